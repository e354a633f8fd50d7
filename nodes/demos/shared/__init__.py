"""What both demo models use: the weights file format, which digit a prompt asks for, and the
digit-token text encoder."""
