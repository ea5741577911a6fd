"""Neural memories that learn at test time, for engrammar."""
