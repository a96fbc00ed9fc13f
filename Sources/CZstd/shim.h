// libzstd from the system (libzstd-dev, installed by scripts/setup).
#include <zstd.h>
