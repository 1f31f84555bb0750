"""images.py: pictures of digits and garments prepared the way MNIST and Fashion-MNIST were."""

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")

from chainrule.images import load_image, to_fashion, to_mnist  # noqa: E402


def centre_of_mass(a):
    total = a.sum()
    rows, cols = np.indices(a.shape)
    return (rows * a).sum() / total, (cols * a).sum() / total


def test_dark_on_light_is_inverted_boxed_and_centred(tmp_path):
    image = Image.new("RGB", (200, 100), (250, 245, 240))  # off-white paper, wide, colour
    ImageDraw.Draw(image).rectangle([150, 10, 170, 90], fill=(10, 10, 80))  # a tall bar near the right edge
    path = tmp_path / "bar.png"
    image.save(path)
    a = load_image(path)
    assert a.shape == (28, 28) and a.dtype == np.float32
    assert a.min() == 0.0 and a.max() == pytest.approx(1.0, abs=0.02)
    assert a[0, 0] == 0.0  # background black
    rows = np.flatnonzero(a.max(axis=1) > 0.5)
    assert rows[-1] - rows[0] + 1 == 20  # the longer side fits 20 pixels
    cy, cx = centre_of_mass(a)
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


def test_light_on_dark_is_kept_and_aspect_preserved():
    a = np.zeros((40, 40))
    a[5:15, 10:30] = 200.0  # a wide white block on black, values 0..200
    out = to_mnist(a)
    cols = np.flatnonzero(out.max(axis=0) > 0.5)
    rows = np.flatnonzero(out.max(axis=1) > 0.5)
    assert cols[-1] - cols[0] + 1 == 20
    assert 9 <= rows[-1] - rows[0] + 1 <= 11  # 2:1 aspect kept
    assert out[0, 0] == 0.0 and out.max() == pytest.approx(1.0, abs=0.02)


def test_transparent_background(tmp_path):
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([10, 10, 40, 40], outline=(0, 0, 0, 255), width=5)  # black ink, no paper
    path = tmp_path / "ring.png"
    image.save(path)
    a = load_image(path)
    assert a[14, 14] < 0.2 and a.max() > 0.9  # ring white, hole and background black


def test_blank_and_unreadable_images_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="blank"):
        to_mnist(np.full((10, 10), 128))
    with pytest.raises(ValueError, match="2-D"):
        to_mnist(np.zeros((3, 4, 5)))
    path = tmp_path / "text.png"
    path.write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        load_image(path)
    with pytest.raises(ValueError, match="kind must be one of mnist, fashion-mnist, got 'cifar'"):
        load_image(path, kind="cifar")


@pytest.mark.parametrize("kind", ["mnist", "fashion-mnist"])
def test_a_28x28_image_of_the_training_kind_goes_in_unchanged(tmp_path, kind):
    rng = np.random.default_rng(0)
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[3:25, 9:15] = rng.integers(1, 256, (22, 6))  # off-centre and not 20x20: left as it is
    path = tmp_path / "test-image.png"
    Image.fromarray(pixels, mode="L").save(path)
    np.testing.assert_array_equal(load_image(path, kind=kind), pixels.astype(np.float32) / np.float32(255))
    # The same picture dark on light paper is a photo to prepare, not a test image.
    Image.fromarray(255 - pixels, mode="L").save(path)
    assert not np.array_equal(load_image(path, kind=kind), pixels / 255)


def test_fashion_preparation_fits_the_longer_edge_to_28_and_centres():
    photo = np.ones((90, 60))  # a product photo: dark garment on a white background
    photo[10:70, 20:50] = 0.2  # 60 tall, 30 wide
    out = to_fashion(photo)
    rows = np.flatnonzero(out.max(axis=1) > 0.5)
    cols = np.flatnonzero(out.max(axis=0) > 0.5)
    assert (rows[0], rows[-1]) == (0, 27)  # the longer edge spans the field (MNIST's would be 20)
    assert cols[-1] - cols[0] + 1 == 14 and cols[0] == 7  # aspect kept, centred
    assert out[:, :6].max() == 0.0 and out[:, 22:].max() == 0.0  # background black
    digit = to_mnist(photo)
    assert np.flatnonzero(digit.max(axis=1) > 0.5).size == 20


def test_photos_of_real_garments_are_prepared_like_fashion_mnist():
    """Test images re-photographed (dark on white, padded off-centre, 3x larger) come back close to
    the originals through the fashion preparation, and not through MNIST's digit preparation."""
    from chainrule.datasets import DatasetError, load_fashion_mnist
    from chainrule.models import TwoLayerNet
    from chainrule.optim import SGD

    try:
        (x, t), (xt, _) = load_fashion_mnist(download=False)
    except DatasetError:
        pytest.skip("Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)")
    net = TwoLayerNet(784, 50, 10, seed=0)
    rng, opt = np.random.default_rng(0), SGD(lr=0.1)
    for _ in range(1200):
        batch = rng.choice(len(x), 100)
        opt.update(net.params, net.gradient(x[batch], t[batch]))
    n = 300
    photos = []
    for image in xt[:n].reshape(n, 28, 28):
        paper = np.pad(1.0 - image, ((10, 6), (4, 12)), constant_values=1.0)  # dark garment on white
        big = Image.fromarray(np.uint8(np.round(paper * 255))).resize((3 * 44, 3 * 44), Image.Resampling.BICUBIC)
        photos.append(np.asarray(big, dtype=np.float64) / 255)
    originals = net.predict(xt[:n]).argmax(axis=1)
    as_garments = net.predict(np.stack([to_fashion(p) for p in photos]).reshape(n, 784)).argmax(axis=1)
    as_digits = net.predict(np.stack([to_mnist(p) for p in photos]).reshape(n, 784)).argmax(axis=1)
    agree_garments = float(np.mean(as_garments == originals))
    agree_digits = float(np.mean(as_digits == originals))
    assert agree_garments >= 0.85, agree_garments  # 0.92 measured
    assert agree_digits < agree_garments - 0.3, (agree_digits, agree_garments)  # 0.43 measured


# issue 13, items 10 and 14: decompression bombs, FIFOs, devices and huge files as images


def bomb_png(w, h):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def bomb_bmp(w, h):
    import struct

    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def bomb_gif(w, h):
    import struct

    return (
        b"GIF89a"
        + struct.pack("<HHBBB", w, h, 0, 0, 0)
        + b","
        + struct.pack("<HHHHB", 0, 0, w, h, 0)
        + b"\x08\x01\x00\x00;"
    )


BOMBS = {
    "png-30000": (bomb_png, 30000, 30000),
    "png-65535": (bomb_png, 65535, 65535),
    "bmp-30000": (bomb_bmp, 30000, 30000),
    "gif-65535": (bomb_gif, 65535, 65535),
    "png-10000": (bomb_png, 10000, 10000),  # 1e8 pixels: Pillow only warns, then decodes 100 MB
    "gif-8000x7000": (bomb_gif, 8000, 7000),  # 5.6e7: below Pillow's limits, above ours
}


@pytest.mark.parametrize("name", BOMBS)
def test_a_decompression_bomb_is_one_value_error_before_decoding(tmp_path, name):
    import warnings

    make, w, h = BOMBS[name]
    path = tmp_path / f"{name}.{name[:3]}"
    path.write_bytes(make(w, h))
    assert path.stat().st_size < 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning is not let through either
        size = rf"(is {w}x{h} pixels \({w * h:,}\)|declares {w * h:,} pixels)"
        pattern = rf"^{path}: the image {size}, more than the 50,000,000"
        with pytest.raises(ValueError, match=pattern) as caught:
            load_image(path)
        assert "Pillow" not in str(caught.value) and "DOS" not in str(caught.value)  # our words, one limit


def test_fifos_devices_and_huge_files_are_refused_without_reading(tmp_path):
    import os

    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)  # opening it would block for ever
    with pytest.raises(ValueError, match=r"expected a regular image file, got a FIFO"):
        load_image(fifo)
    with pytest.raises(ValueError, match=r"expected a regular image file, got a device"):
        load_image("/dev/zero")
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as f:
        f.truncate(64 * 1024**3)  # 64 GiB, sparse: nothing is written
    with pytest.raises(ValueError, match=r"the image file is 64.0 GiB, more than the 64.0 MiB"):
        load_image(sparse)
    with pytest.raises(ValueError, match="no such image file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="expected a regular image file, got a folder"):
        load_image(tmp_path)


def test_an_image_at_the_pixel_limit_is_still_read(tmp_path):
    path = tmp_path / "wide.png"
    a = np.zeros((10, 2000), dtype=np.uint8)
    a[3:7, 100:1900] = 255
    Image.fromarray(a).save(path)
    out = load_image(path)
    assert out.shape == (28, 28) and out.max() > 0.5
