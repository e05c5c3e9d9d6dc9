"""tbps's visualizer: retrieval grids and attention maps, saved through
mmengine's visualisation backends (local files, TensorBoard...)."""
import textwrap
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
from mmengine.visualization import Visualizer
from PIL import Image, ImageDraw, ImageFont

from tbps.registry import VISUALIZERS

MATCH, MISMATCH = (0, 170, 0), (200, 0, 0)


def _font():
    return ImageFont.load_default()


def _title_lines(text: str, width_px: int):
    return textwrap.wrap(text, width=max(20, width_px // 6))[:3]


@VISUALIZERS.register_module()
class TBPSVisualizer(Visualizer):
    """mmengine ``Visualizer`` with text-based person search pictures:
    :meth:`draw_retrieval` (a ranked grid of photos) and
    :meth:`draw_attention` (maps over an image side by side). Both return
    an RGB array; :meth:`add_image` (mmengine) saves it to the backends."""

    tile: Tuple[int, int] = (96, 192)  # (W, H) of a photo in a grid

    def draw_retrieval(self, results: Sequence[Tuple[str, float]],
                       query: str, true_paths: Optional[Iterable[str]] = None,
                       cols: int = 10) -> np.ndarray:
        """Ranked photos with rank and score, the query as the title; with
        ``true_paths`` true matches are outlined in green, others in red.

        Returns:
            np.ndarray: [H, W, 3] uint8 RGB.
        """
        true_paths = set(true_paths) if true_paths is not None else None
        tw, th = self.tile
        cols = max(1, min(len(results), cols))
        rows = (len(results) + cols - 1) // cols
        pad, caption_h = 6, 14
        width = cols * (tw + pad) + pad
        title = _title_lines(query, width)
        title_h = 14 * len(title) + 8
        canvas = Image.new('RGB', (width, title_h + max(rows, 1) * (
            th + caption_h + pad) + pad), 'white')
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(title):
            draw.text((pad, 4 + 14 * i), line, fill='black', font=_font())
        for rank, (path, score) in enumerate(results):
            r, c = divmod(rank, cols)
            x = pad + c * (tw + pad)
            y = title_h + r * (th + caption_h + pad)
            try:
                photo = Image.open(path).convert('RGB').resize(self.tile)
            except OSError:
                photo = Image.new('RGB', self.tile, 'gray')
            canvas.paste(photo, (x, y))
            if true_paths is not None:
                color = MATCH if path in true_paths else MISMATCH
                draw.rectangle([x - 2, y - 2, x + tw + 1, y + th + 1],
                               outline=color, width=3)
            draw.text((x, y + th + 2), f'{rank + 1}: {score:.3f}',
                      fill='black', font=_font())
        return np.asarray(canvas)

    def draw_attention(self, image: np.ndarray,
                       maps: Dict[str, np.ndarray], title: str = '',
                       alpha: float = 0.55) -> np.ndarray:
        """``image`` ([H, W, 3] RGB) next to each map ([gh, gw] weights,
        upsampled to the image and drawn as a heat map over it), labelled
        with the map's name.

        Returns:
            np.ndarray: [H', W', 3] uint8 RGB.
        """
        import matplotlib
        cmap = matplotlib.colormaps['jet']
        base = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(
            self.tile)
        panels = [('image', base)]
        for name, weights in maps.items():
            w = np.asarray(weights, dtype=np.float32)
            w = (w - w.min()) / max(float(w.max() - w.min()), 1e-12)
            heat = Image.fromarray(np.uint8(cmap(w)[..., :3] * 255)).resize(
                self.tile, Image.BILINEAR)
            panels.append((name, Image.blend(base, heat, alpha)))
        pad, label_h = 6, 14
        tw, th = self.tile
        width = len(panels) * (tw + pad) + pad
        lines = _title_lines(title, width) if title else []
        title_h = 14 * len(lines) + (8 if lines else 0)
        canvas = Image.new('RGB', (width, title_h + th + label_h + 2 * pad),
                           'white')
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(lines):
            draw.text((pad, 4 + 14 * i), line, fill='black', font=_font())
        for i, (name, panel) in enumerate(panels):
            x = pad + i * (tw + pad)
            canvas.paste(panel, (x, title_h + pad))
            draw.text((x, title_h + pad + th + 2), name, fill='black',
                      font=_font())
        return np.asarray(canvas)
