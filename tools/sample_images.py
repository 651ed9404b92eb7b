"""Make a small, deterministic tree of fruit-like JPEG images, laid out like Fruits-360.

Fruits-360 cannot ship with the project, so the local run and the tests use these instead:
one folder per class (names with spaces, as in the real dataset), 100x100 photos of a coloured,
shaded fruit on a white background, and the same file names repeated in every class folder.

    python tools/sample_images.py data/sample --per-class 25
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Class name -> (RGB colour, width/height ratio of the fruit). Names follow Fruits-360.
FRUITS = {
    "Apple Braeburn": ((170, 30, 35), 1.0),
    "Banana": ((230, 200, 40), 2.4),
    "Cherry 1": ((120, 10, 30), 0.9),
    "Kiwi": ((110, 85, 40), 1.3),
    "Lemon": ((245, 230, 70), 1.35),
    "Pear Abate": ((170, 170, 60), 0.7),
    "Strawberry": ((210, 25, 50), 0.85),
    "Tomato 1": ((230, 60, 30), 1.1),
}


def fruit_image(colour, aspect, rng, size=100):
    """Draw one fruit: a shaded, jittered ellipse of `colour` on white, with mild noise."""
    scale = 4  # draw large, then downsample: smooth edges like a real photo
    canvas = size * scale
    image = Image.new("RGB", (canvas, canvas), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    height = canvas * rng.uniform(0.45, 0.7) / max(1.0, aspect / 1.2)
    width = min(height * aspect, canvas * 0.9)
    cx, cy = canvas / 2 + rng.uniform(-0.08, 0.08, size=2) * canvas
    tint = np.clip(np.array(colour) + rng.normal(0, 12, size=3), 0, 255)
    # Concentric ellipses from dark rim to bright centre give the fruit some volume.
    for step in np.linspace(1.0, 0.2, 12):
        shade = np.clip(tint * (0.65 + 0.45 * (1 - step)), 0, 255).astype(int)
        w, h = width * step, height * step
        offset = (1 - step) * canvas * 0.06  # highlight towards the upper left
        box = [cx - w / 2 - offset, cy - h / 2 - offset, cx + w / 2 - offset, cy + h / 2 - offset]
        draw.ellipse(box, fill=tuple(shade))
    image = image.rotate(rng.uniform(0, 360), fillcolor=(255, 255, 255), center=(cx, cy))
    image = image.filter(ImageFilter.GaussianBlur(scale)).resize((size, size), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_sample(output_dir, per_class=25, classes=len(FRUITS), seed=0):
    """Write `per_class` images for each of the first `classes` fruits; return the paths written."""
    if not 1 <= classes <= len(FRUITS):
        raise ValueError(f"classes must be between 1 and {len(FRUITS)}, got {classes}")
    written = []
    for class_index, (label, (colour, aspect)) in enumerate(list(FRUITS.items())[:classes]):
        folder = Path(output_dir) / label
        folder.mkdir(parents=True, exist_ok=True)
        for image_index in range(per_class):
            rng = np.random.default_rng([seed, class_index, image_index])
            path = folder / f"r_{image_index}_100.jpg"  # same names in every class, as in Fruits-360
            fruit_image(colour, aspect, rng).save(path, quality=90)
            written.append(path)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", help="folder to create the class folders in")
    parser.add_argument("--per-class", type=int, default=25, help="images per class (default 25)")
    parser.add_argument("--classes", type=int, default=len(FRUITS), help="number of classes (default all 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args()
    written = make_sample(args.output_dir, args.per_class, args.classes, args.seed)
    print(f"wrote {len(written)} images in {args.classes} class folders under {args.output_dir}")


if __name__ == "__main__":
    main()
