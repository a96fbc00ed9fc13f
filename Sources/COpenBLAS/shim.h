// libopenblas from the system (libopenblas-dev, installed by scripts/setup): the trainer's fp32 GEMMs on dequantized
// tiles of the frozen base (DESIGN 2).
#include <cblas.h>
