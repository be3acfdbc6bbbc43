"""Spiking layers for any surrogate ``spike_fn: x -> spikes``; they run under scan, jit, grad."""

from .gif import GIFConfig as GIFConfig
from .gif import gif_layer as gif_layer
from .lif import LIFConfig as LIFConfig
from .lif import decay as decay
from .lif import leaky_readout as leaky_readout
from .lif import lif_layer as lif_layer
