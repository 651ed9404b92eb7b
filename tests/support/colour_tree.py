"""Images of four flat colours, one folder per colour: classes the features must tell apart."""

import numpy as np
from PIL import Image

COLOURS = {"red": (200, 30, 30), "green": (40, 170, 60), "blue": (40, 70, 200), "yellow": (230, 210, 40)}
PER_COLOUR = 8


def write_colour_tree(root):
    """PER_COLOUR flat, slightly noisy PNGs of each colour in a folder named after it."""
    rng = np.random.default_rng(3)
    for colour, rgb in COLOURS.items():
        (root / colour).mkdir(parents=True)
        for index in range(PER_COLOUR):
            pixels = np.array(rgb) * rng.uniform(0.85, 1.0) + rng.normal(0, 6, (64, 64, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / colour / f"{index}.png")
