"""Morphology of segmented volumes: porosity, surfaces, sizes, topology, transport, objects.

Every function takes a label volume (0 = pore, 1..N = phases) or a boolean phase mask and the
voxel size in ångström; lengths, areas and volumes come back in nm, nm², nm³ with the voxel
counts alongside. :func:`analyze` runs them all and returns a :class:`MorphologyReport`
(JSON with units and definitions, CSV per object, PNG of the size distributions).
"""

from tomoml.analyze.particles import particle_table
from tomoml.analyze.porosity import (
                                     envelope_mask,
                                     local_thickness,
                                     pore_mask,
                                     porosity,
                                     solid_mask,
                                     thickness_distribution,
)
from tomoml.analyze.report import DEFINITIONS, METRICS, UNITS, MorphologyReport, analyze
from tomoml.analyze.skeleton import skeleton_statistics
from tomoml.analyze.surfaces import specific_surface_area, surface_area
from tomoml.analyze.topology import (
                                     connected_components,
                                     connectivity_density,
                                     euler_characteristic,
                                     euler_number,
                                     percolation,
)
from tomoml.analyze.transport import (
    diffusive_tortuosity,
    geodesic_distance,
    geometric_tortuosity,
)

__all__ = [
    "DEFINITIONS", "METRICS", "UNITS", "MorphologyReport", "analyze", "connected_components",
    "connectivity_density", "diffusive_tortuosity", "envelope_mask", "euler_characteristic",
    "euler_number", "geodesic_distance", "geometric_tortuosity", "local_thickness",
    "particle_table", "percolation", "pore_mask", "porosity", "skeleton_statistics",
    "solid_mask", "specific_surface_area", "surface_area", "thickness_distribution",
]
