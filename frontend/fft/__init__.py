"""aotc.numpy.fft: discrete Fourier transforms."""
