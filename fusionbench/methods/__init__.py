"""fusionbench.methods: fusion methods behind one interface, and adapters for existing fused images.

::

    from fusionbench.methods import fuse, get_method, list_methods
    fused = fuse("gff", ir, vis)              # uint8, RGB when vis is RGB
    method = get_method("lp", levels=3)
    y = method.fuse(ir_float, vis_y_float)    # float32 (H, W) on [0, 1]
    get_method("published:piafusion").fused_path("05", "tno", "test", data_root)

Built-in classic methods: ``average``, ``max``, ``lp`` (Laplacian pyramid), ``dwt`` (wavelets) and
``gff`` (guided filtering fusion). ``published:<name>`` and ``folder:<path>`` provide fused images
made elsewhere (:func:`load_fused` reads and checks them). Colour: methods fuse the VIS luminance
(BT.601, :mod:`fusionbench.methods.colour`); the RGB result keeps the VIS chrominance.
Third-party methods register through the entry-point group ``fusionbench.methods``.
"""

from fusionbench.methods.api import ENTRY_POINT_GROUP, fuse, get_method, list_methods, to_unit
from fusionbench.methods.base import METHODS, ClassicMethod, Method, MethodError, register_method
from fusionbench.methods.classic import Average, Maximum
from fusionbench.methods.colour import merge_y, split_y, to_uint8
from fusionbench.methods.gff import GuidedFilterFusion, guided_filter
from fusionbench.methods.multiscale import LaplacianPyramid, Wavelet
from fusionbench.methods.precomputed import PUBLISHED, FolderMethod, PublishedMethod, load_fused

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHODS",
    "PUBLISHED",
    "Average",
    "ClassicMethod",
    "FolderMethod",
    "GuidedFilterFusion",
    "LaplacianPyramid",
    "Maximum",
    "Method",
    "MethodError",
    "PublishedMethod",
    "Wavelet",
    "fuse",
    "get_method",
    "guided_filter",
    "list_methods",
    "load_fused",
    "merge_y",
    "register_method",
    "split_y",
    "to_uint8",
    "to_unit",
]
