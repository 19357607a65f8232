"""Extensions plugged into the layers below, one folder per kind (network, stream, listener)."""
