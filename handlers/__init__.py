"""The conversation engine and its flows, one module per feature; messenger-agnostic."""
