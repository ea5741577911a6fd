"""Components that ship with core: reference examples and wiring combinators."""
