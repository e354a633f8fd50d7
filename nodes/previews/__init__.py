"""What the user sees after each outer step: the still preview and, for video, the playable clip."""
