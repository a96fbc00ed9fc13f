// Umbrella header of the C kernels module.
#include "tk_types.h"
#include "tk_cpu.h"
#include "tk_kernels.h"
#include "tk_pool.h"
