"""A tree of unusual, broken and skipped files, with the outcome each one must have."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

# Folder names that real datasets have: spaces, # & % ( ) and accents.
ODD_FOLDER = "Pêche (jaune) #1 & co 100%"
BAD_FOLDER = "Clémentine"
IMAGE_GLOB = "*.{jpg,png}"


def fruit_pixels(size=(64, 48), seed=0):
    """A smooth, non-symmetric colour picture (so rotations and colour changes show in features)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]] / max(size)
    channels = [np.sin(3 * x + phase) * np.cos(2 * y - phase) for phase in rng.uniform(0, 3, 3)]
    return ((np.stack(channels, axis=-1) + 1) * 127.5).astype(np.uint8)


def make_hostile_tree(root):
    """Write the tree under `root`; return {relative path: expected outcome}.

    The outcome is "featurized", a reject reason, or "skipped" (not matched by IMAGE_GLOB, or
    hidden from Spark's listing).
    """
    root = Path(root)
    good, bad = root / ODD_FOLDER, root / BAD_FOLDER
    for folder in (good, bad, root / "_scratch"):
        folder.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(fruit_pixels())
    outcomes = {}

    def save(path, image, outcome, **options):
        image.save(path, **options)
        outcomes[str(path.relative_to(root))] = outcome

    save(good / "fruit #2 & (x) 50%.jpg", picture, "featurized", quality=95)
    save(good / "grey.jpg", picture.convert("L"), "featurized")
    save(good / "cmyk.jpg", picture.convert("CMYK"), "featurized")
    save(good / "palette.png", picture.convert("P"), "featurized")
    save(good / "tiny.jpg", picture.resize((3, 3)), "featurized")
    save(good / "large.jpg", picture.resize((3000, 2000)), "featurized")
    # Transparency is laid on white: a fully transparent image must look like a white one.
    transparent = np.dstack([fruit_pixels(seed=1), np.zeros((48, 64), np.uint8)])
    save(good / "transparent.png", Image.fromarray(transparent, "RGBA"), "featurized")
    save(good / "white.png", Image.new("RGB", (64, 48), "white"), "featurized")
    # 16-bit greyscale is scaled to 8 bits, not clipped: it must look like its 8-bit twin.
    grey = np.asarray(picture.convert("L"), dtype=np.uint16)
    save(good / "grey-16-bit.png", Image.fromarray(grey * 257), "featurized")
    save(good / "grey-8-bit.png", Image.fromarray(grey.astype(np.uint8)), "featurized")
    # Stored sideways, with the EXIF orientation (6: rotate 90 degrees clockwise) that makes it upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    save(good / "upright.png", picture, "featurized")
    save(good / "exif-rotated.png", picture.transpose(Image.Transpose.ROTATE_90), "featurized", exif=exif)

    (bad / "empty.jpg").write_bytes(b"")
    outcomes[f"{BAD_FOLDER}/empty.jpg"] = "empty file"
    (bad / "notes.jpg").write_text("shopping list: apples, pears\n")
    outcomes[f"{BAD_FOLDER}/notes.jpg"] = "not an image"
    whole = io.BytesIO()
    picture.resize((400, 300)).save(whole, "JPEG")
    (bad / "truncated.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    outcomes[f"{BAD_FOLDER}/truncated.jpg"] = "truncated"
    # 100 megapixels, over Pillow's default limit (about 89.5), in a few kilobytes.
    save(bad / "bomb.png", Image.new("1", (10_000, 10_000)), "too many pixels")

    for name in ("readme.txt", "photo.gif", ".DS_Store", "._fruit.jpg"):
        (good / name).write_bytes(b"not matched or hidden")
        outcomes[f"{ODD_FOLDER}/{name}"] = "skipped"
    picture.save(root / "_scratch" / "hidden-folder.jpg")
    outcomes["_scratch/hidden-folder.jpg"] = "skipped"
    return outcomes
