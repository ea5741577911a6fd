"""Gated delta memories for engrammar."""
