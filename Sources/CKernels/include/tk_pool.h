#ifndef TK_POOL_H
#define TK_POOL_H
// The compute thread pool (DESIGN 3.7): persistent threads; the calling thread works too. Workers spin briefly
// between tasks (a forward pass issues hundreds of short ones) and then park, so an idle server burns no CPU. A
// task's parts go to whichever thread is running, so a worker whose core another process holds delays nothing.

#include <stdint.h>

typedef void (*tk_task_fn)(void *ctx, int thread, int nthreads);
typedef struct tk_pool tk_pool;

/// A pool of `nthreads` workers in all, the caller included (so nthreads - 1 new threads). NULL on failure.
tk_pool *tk_pool_create(int nthreads);
int tk_pool_size(const tk_pool *pool);
/// Runs fn(ctx, i, n) once for each i in 0..<n, on whichever threads claim them first (the caller claims too, so
/// it may run several); returns when all are done. One caller at a time.
void tk_pool_run(tk_pool *pool, tk_task_fn fn, void *ctx);
void tk_pool_destroy(tk_pool *pool);

/// Atomically adds `n` to *counter and returns the previous value: workers claim chunks of a task with it, so a
/// thread that runs faster (the host may slow one vCPU) takes more chunks instead of waiting at the end.
int64_t tk_claim(int64_t *counter, int64_t n);

#endif
