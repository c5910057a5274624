"""Packed raw-video frame sizes (ABI.md 5.6).

The ABI carries no stride: both sides assume rows tightly packed and planes
back to back. A receiver rejects a copy-path frame whose ``data_len`` is below
this size and silently truncates anything beyond it, so the number is both the
validation threshold and the length of every decoded frame.
"""

from __future__ import annotations

from conformance.abi.constants import PixelFormat


def chroma_plane_size(width: int, height: int) -> int:
    """Bytes of one subsampled chroma plane: ceil(W/2) x ceil(H/2) (I420 U or V)."""
    return ((width + 1) // 2) * ((height + 1) // 2)


def packed_frame_size(width: int, height: int, pixel_format: PixelFormat | int) -> int:
    """Bytes a W x H frame of ``pixel_format`` needs in the packed layout; 0 for a zero dimension.

    Rgba8: W*4*H. I420: Y (W*H) then U and V (ceil(W/2)*ceil(H/2) each).
    Nv12: Y (W*H) then one interleaved UV plane (2*ceil(W/2) bytes x ceil(H/2)
    rows), which is the same total as I420. Raises ``ValueError`` for a
    negative dimension or an unknown format (out-of-range formats are UB in a
    Rust receiver, so there is no size to give).
    """
    if width < 0 or height < 0:
        raise ValueError(f"negative frame dimension {width}x{height}")
    fmt = PixelFormat(pixel_format)
    if fmt is PixelFormat.RGBA8:
        return width * 4 * height
    luma = width * height
    if fmt is PixelFormat.I420:
        return luma + 2 * chroma_plane_size(width, height)
    # NV12: interleaved UV rows of 2*ceil(W/2) bytes, ceil(H/2) rows.
    return luma + (2 * ((width + 1) // 2)) * ((height + 1) // 2)
