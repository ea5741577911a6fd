"""8-bit AdamW: block-wise dynamic quantisation (quantization), its naive oracle and a float32 AdamW reference (naive), the optimizer (optimizer) and the trick that supplies it (trick)."""
