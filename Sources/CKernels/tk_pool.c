#include "tk_pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

// A task is n parts, fn(ctx, i, n) for i in 0..<n. Parts are not tied to threads: whoever is running takes the next
// part (caller included), so when the host or another process holds a worker's core, the caller does that worker's
// part itself instead of spinning until the worker is scheduled again. Only a part already begun is waited for, and
// that wait yields the core (the partner may be queued behind us on it).
//
// `ticket` packs the task's number (high 32 bits) and its next unclaimed part (low 32 bits); a part is claimed by
// compare-and-swap on the whole word, so a worker that saw an older task can never claim a part of a newer one.

// Spin (with pause) this long for the next task before parking on the condition variable: a forward pass issues
// hundreds of tasks a few microseconds apart, and waking a parked thread costs ~50 us.
#define WORKER_SPIN_NS 100000
// Spin this long on a part another thread is running before yielding the core to whoever needs it.
#define CALLER_SPIN_NS 20000

struct tk_pool {
    int nthreads;  // also the parts of every task; fixed before the first task
    pthread_t *threads;
    tk_task_fn fn;
    void *ctx;
    _Atomic uint64_t ticket;
    _Atomic int done;  // parts finished in the current task
    _Atomic int sleepers;
    _Atomic int stop;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Claims the next part of the task in `seen`'s number; -1 when none is left (or a newer task started).
static int claim(tk_pool *pool, uint64_t seen) {
    uint64_t t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
    while ((t >> 32) == (seen >> 32) && (int)(uint32_t)t < pool->nthreads) {
        if (atomic_compare_exchange_weak_explicit(&pool->ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
            return (int)(uint32_t)t;
    }
    return -1;
}

// Runs parts of the task numbered like `seen` until none is left.
static void run_parts(tk_pool *pool, uint64_t seen) {
    int part;
    while ((part = claim(pool, seen)) >= 0) {
        pool->fn(pool->ctx, part, pool->nthreads);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
    }
}

static int has_parts(tk_pool *pool, uint64_t t, uint32_t seen_task) {
    return (uint32_t)(t >> 32) != seen_task && (int)(uint32_t)t < pool->nthreads;
}

static void *worker_main(void *p) {
    tk_pool *pool = p;
    uint32_t seen_task = 0;
    for (;;) {
        uint64_t t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
        if (!has_parts(pool, t, seen_task)) {
            uint64_t start = now_ns();
            int spins = 0;
            for (;;) {
                if (atomic_load_explicit(&pool->stop, memory_order_relaxed)) return NULL;
                t = atomic_load_explicit(&pool->ticket, memory_order_acquire);
                if (has_parts(pool, t, seen_task)) break;
                CPU_RELAX();
                if ((++spins & 63) == 0 && now_ns() - start > WORKER_SPIN_NS) {
                    pthread_mutex_lock(&pool->mutex);
                    atomic_fetch_add(&pool->sleepers, 1);
                    while (!has_parts(pool, atomic_load(&pool->ticket), seen_task) && !atomic_load(&pool->stop))
                        pthread_cond_wait(&pool->wake, &pool->mutex);
                    atomic_fetch_sub(&pool->sleepers, 1);
                    pthread_mutex_unlock(&pool->mutex);
                    start = now_ns();
                }
            }
        }
        seen_task = (uint32_t)(t >> 32);
        run_parts(pool, t);
    }
}

tk_pool *tk_pool_create(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    tk_pool *pool = calloc(1, sizeof(tk_pool));
    if (!pool) return NULL;
    pool->nthreads = nthreads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = calloc((size_t)nthreads, sizeof(pthread_t));
    for (int i = 1; i < nthreads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            pool->nthreads = i;  // run with the threads we got
            break;
        }
    }
    return pool;
}

int tk_pool_size(const tk_pool *pool) { return pool->nthreads; }

void tk_pool_run(tk_pool *pool, tk_task_fn fn, void *ctx) {
    if (pool->nthreads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    // Every part of the previous task is finished (we waited for them), so no worker reads fn or ctx now.
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    uint64_t task = (atomic_load_explicit(&pool->ticket, memory_order_relaxed) >> 32) + 1;
    if ((uint32_t)task == 0) task = 1;  // 0 is what a new worker has seen
    uint64_t t = (uint64_t)(uint32_t)task << 32;
    atomic_store_explicit(&pool->ticket, t, memory_order_release);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    run_parts(pool, t);
    uint64_t start = 0;
    int spins = 0;
    while (atomic_load_explicit(&pool->done, memory_order_acquire) < pool->nthreads) {
        if (start == 0) start = now_ns();
        if ((++spins & 63) == 0 && now_ns() - start > CALLER_SPIN_NS) {
            sched_yield();
        } else {
            CPU_RELAX();
        }
    }
}

void tk_pool_destroy(tk_pool *pool) {
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->mutex);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->nthreads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool);
}

int64_t tk_claim(int64_t *counter, int64_t n) { return __atomic_fetch_add(counter, n, __ATOMIC_RELAXED); }
