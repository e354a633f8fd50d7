"""The video demo's clip geometry (plain Python, no imports): the one home of these numbers for
the model, its loader node, its prompts and the bench's training clips
(``bench/harness/digit_clips_data.py``).

A clip is ``FRAMES`` frames of a ``CANVAS`` x ``CANVAS`` canvas; in each frame an 8x8 digit moves
one pixel in its direction, so it crosses the canvas from one edge to the other.
"""

FRAMES = 8             # frames per clip: the digit crosses the canvas in 8 one-pixel moves
CANVAS = 16            # canvas side in pixels (= latent side)
DIGIT = 8              # the source digits' side (scikit-learn's load_digits)
TRAVEL = CANVAS - DIGIT  # 8: the digit's top-left corner takes positions 0..8 along the motion
FPS = 8                # the clip plays in one second; the latent format exposes it as nested_clip_fps
DIRECTIONS = ("left", "right", "up", "down")
