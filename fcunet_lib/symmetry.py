"""Symmetry frames of a centred diffraction pattern, for test-time averaging.

A square pattern centred at pixel ``(N//2, N//2)`` can be mirrored and
rotated about that pixel without resampling: every operation of the square's
symmetry group (the dihedral group of order 8) is a permutation of pixels.
Mirroring pattern and probe together gives an equally valid input whose true
structure-factor image is the mirrored truth, so a network's predictions in
several frames, each mapped back, can be averaged. A convolutional network
is not exactly equivariant under these operations — its learned kernels have
a handedness — and the average cancels the part of its error that turns with
the frame (notebook 06 and ``tools/validation_scores.py`` measure the gain).

Frames, in the order they are added (``n`` frames use the first ``n``):

====  ==========================================  =========================
 k    operation about the centre pixel            group of the first k
====  ==========================================  =========================
 0    identity                                    1: the network as trained
 1    rotation by 180°                            2: {1, C₂}
 2    transpose (mirror on the main diagonal)     4: {1, C₂, m, m'} (m' ⊥ m)
 3    transpose ∘ rotation by 180°
 4    mirror of axis 0                            8: the whole group
 5    mirror of axis 1
 6    rotation by 90°
 7    rotation by 270°
====  ==========================================  =========================

Each prefix of length 1, 2, 4 or 8 is a subgroup, so the averaged prediction
is exactly equivariant under that subgroup (``tests/test_symmetry.py``).
:func:`fcunet_lib.find_disks_fcunet` averages over them (``symmetry_frames``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FRAME_COUNTS", "SymmetryFrame", "frames", "check_frame_count"]

#: Numbers of frames that form a group (see the module docstring).
FRAME_COUNTS = (1, 2, 4, 8)


class SymmetryFrame:
    """One symmetry operation about the centre pixel of square ``[B, N, N, ...]`` arrays.

    Parameters
    ----------
    name : str
        Human-readable name, e.g. ``"rotation 180°"``.
    mirror_0, mirror_1 : bool
        Mirror axis 1 (rows) / axis 2 (columns) about index ``N//2``.
    transpose : bool
        Swap axes 1 and 2 after the mirrors.
    """

    def __init__(self, name: str, *, mirror_0: bool = False, mirror_1: bool = False, transpose: bool = False):
        self.name = name
        self.mirror_0, self.mirror_1, self.transpose = bool(mirror_0), bool(mirror_1), bool(transpose)

    def __repr__(self):
        return f"SymmetryFrame({self.name!r})"

    def apply(self, images: np.ndarray) -> np.ndarray:
        """The images seen in this frame: mirrors about the centre pixel, then the transpose."""
        images = _check_square(images)
        if self.mirror_0:
            images = np.take(images, _mirror_index(images.shape[1]), axis=1)
        if self.mirror_1:
            images = np.take(images, _mirror_index(images.shape[2]), axis=2)
        if self.transpose:
            images = np.swapaxes(images, 1, 2)
        return images

    def undo(self, images: np.ndarray) -> np.ndarray:
        """Map images of this frame back to the original one (the inverse of :meth:`apply`)."""
        images = _check_square(images)
        if self.transpose:
            images = np.swapaxes(images, 1, 2)
        if self.mirror_1:
            images = np.take(images, _mirror_index(images.shape[2]), axis=2)
        if self.mirror_0:
            images = np.take(images, _mirror_index(images.shape[1]), axis=1)
        return images


_FRAMES = (
    SymmetryFrame("identity"),
    SymmetryFrame("rotation 180°", mirror_0=True, mirror_1=True),
    SymmetryFrame("transpose", transpose=True),
    SymmetryFrame("transpose ∘ rotation 180°", mirror_0=True, mirror_1=True, transpose=True),
    SymmetryFrame("mirror of axis 0", mirror_0=True),
    SymmetryFrame("mirror of axis 1", mirror_1=True),
    SymmetryFrame("rotation 90°", mirror_0=True, transpose=True),
    SymmetryFrame("rotation 270°", mirror_1=True, transpose=True),
)


def check_frame_count(n_frames) -> int:
    """``n_frames`` as an int, if it is one of :data:`FRAME_COUNTS`; else ``ValueError``."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or int(n_frames) not in FRAME_COUNTS:
        raise ValueError(f"symmetry_frames must be one of {FRAME_COUNTS} (the sizes of the pattern's symmetry "
                         f"groups about its centre); got {n_frames!r}")
    return int(n_frames)


def frames(n_frames: int) -> tuple[SymmetryFrame, ...]:
    """The first ``n_frames`` frames (1, 2, 4 or 8: a group each)."""
    return _FRAMES[: check_frame_count(n_frames)]


def _mirror_index(n: int) -> np.ndarray:
    """Indices of the mirror about index ``n//2``: i → (2·(n//2) − i) mod n (index 0 of an even n stays)."""
    return (2 * (n // 2) - np.arange(n)) % n


def _check_square(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim < 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"symmetry frames need square images [B, N, N, ...]; got shape {images.shape}")
    return images
