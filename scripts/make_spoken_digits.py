"""Synthesise spoken digit strings with espeak-ng and store their log-mel features as one .npz.

Run from the repository root (needs the espeak-ng program: `apt-get install -y espeak-ng`):
    python scripts/make_spoken_digits.py            # writes data/spoken_digits.npz
Each utterance is 3-6 digits read as words ("three one four"), by one of several voices (an accent
and a voice variant), at a random speed, pitch and gap between words, with white noise added at a
random signal-to-noise ratio (0-20 dB). Features: 26 log-mel filterbank energies every 20 ms (25 ms Hann window),
quantised to uint8 over [DB_FLOOR, DB_FLOOR + DB_RANGE] dB to keep the file small. Nothing is pickled:
the file holds plain arrays (features concatenated, with offsets) and is read with allow_pickle=False.
Deterministic for a given seed and espeak-ng version (1.51 here).
"""
import argparse
import os
import subprocess
import tempfile
import wave

import numpy as np

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# (espeak-ng voice, utterances); the last two are never used for training in the notebook
VOICES = [("en-gb+m1", 160), ("en-us+f2", 160), ("en-gb-scotland+m3", 160), ("en-029+f4", 160),
          ("en-gb-x-rp+m5", 160), ("en-us-nyc+f1", 160), ("en-gb-x-gbcwmd+m2", 160),
          ("en-gb-x-gbclan+f3", 100), ("en-us+m7", 100)]
SAMPLE_RATE, WINDOW, HOP, N_MELS, N_FFT = 16000, 400, 320, 26, 512
DB_FLOOR, DB_RANGE = -50.0, 90.0  # the energies seen lie within -35..+30 dB


def synthesise(voice, text, speed, pitch, gap, path):
    """espeak-ng's waveform of text as float64 in [-1, 1] at its own rate (22,050 Hz)."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap), "-w", path, text],
                   check=True, capture_output=True)
    with wave.open(path) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return np.frombuffer(frames, np.int16) / 32768.0, rate


def resample(signal, rate):
    """Linear interpolation to SAMPLE_RATE (espeak's output has little energy above 8 kHz)."""
    t = np.arange(int(len(signal) * SAMPLE_RATE / rate)) / SAMPLE_RATE
    return np.interp(t, np.arange(len(signal)) / rate, signal)


def mel_filterbank():
    """(N_MELS, N_FFT // 2 + 1) triangular filters equally spaced on the mel scale, 0-8 kHz."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)
    edges = hz(np.linspace(mel(0), mel(SAMPLE_RATE / 2), N_MELS + 2))
    freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def log_mel(signal, filters):
    """(frames, N_MELS) log-mel energies in dB of 25 ms Hann windows every 20 ms."""
    n = 1 + max(0, len(signal) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(signal, WINDOW)[::HOP][:n] * np.hanning(WINDOW)
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2
    return 10 * np.log10(power @ filters.T + 1e-10)


def quantise(db):
    return np.clip(np.round((db - DB_FLOOR) / DB_RANGE * 255), 0, 255).astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("data", "spoken_digits.npz"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    filters = mel_filterbank()
    feats, labels, meta = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "u.wav")
        for v, (voice, count) in enumerate(VOICES):
            for _ in range(count):
                digits = rng.integers(0, 10, rng.integers(3, 7))
                speed, pitch, gap = int(rng.integers(120, 221)), int(rng.integers(25, 81)), int(rng.integers(0, 8))
                signal, rate = synthesise(voice, " ".join(WORDS[d] for d in digits), speed, pitch, gap, wav)
                signal = resample(signal, rate)
                snr = rng.uniform(0, 20)
                noise = rng.standard_normal(len(signal)) * np.sqrt(np.mean(signal ** 2) / 10 ** (snr / 10))
                feats.append(quantise(log_mel(signal + noise, filters)))
                labels.append(digits.astype(np.int8))
                meta.append((v, speed, pitch, gap, snr))
            print(f"{voice}: {count} utterances", flush=True)
    meta = np.array(meta)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(
        args.out,
        features=np.concatenate(feats), frame_offsets=np.cumsum([0] + [len(f) for f in feats]),
        labels=np.concatenate(labels), label_offsets=np.cumsum([0] + [len(d) for d in labels]),
        voice=meta[:, 0].astype(np.int64), voice_names=np.array([v for v, _ in VOICES]),
        speed=meta[:, 1].astype(np.int64), pitch=meta[:, 2].astype(np.int64), word_gap=meta[:, 3].astype(np.int64),
        snr_db=meta[:, 4].astype(np.float32), db_floor=DB_FLOOR, db_range=DB_RANGE, hop_seconds=HOP / SAMPLE_RATE,
        n_mels=N_MELS)
    print(f"wrote {args.out}: {len(feats)} utterances, {sum(len(f) for f in feats)} frames, "
          f"{os.path.getsize(args.out) / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
