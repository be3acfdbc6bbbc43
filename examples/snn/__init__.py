"""Spiking layers for any surrogate ``spike_fn: x -> spikes``; they run under scan, jit, grad."""

from examples.snn.gif import GIFConfig as GIFConfig
from examples.snn.gif import gif_layer as gif_layer
from examples.snn.lif import LIFConfig as LIFConfig
from examples.snn.lif import decay as decay
from examples.snn.lif import leaky_readout as leaky_readout
from examples.snn.lif import lif_layer as lif_layer
