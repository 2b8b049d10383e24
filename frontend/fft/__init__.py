"""aotc.numpy.fft: discrete Fourier transforms with JAX's names and signatures.

- transforms: fft/ifft/rfft/irfft/hfft/ihfft, their 2-D and n-D forms, fftfreq/rfftfreq and
  fftshift/ifftshift. Each transform emits one `stablehlo.fft` per axis; the op, its derivative,
  transpose and batching rules and its portable lowering (DFT matmuls, Cooley-Tukey four-step,
  Bluestein) live in aotc.frontend.ops.fft.
"""
