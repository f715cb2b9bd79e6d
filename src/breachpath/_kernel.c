/* The Monte Carlo kernel of breachpath.sim, compiled when the package is installed (no compilation on first use).

   One call runs a block of samples over an attack graph held in flat CSR arrays: Dijkstra's algorithm generalised
   to AND nodes (Knuth, "A generalization of Dijkstra's algorithm", IPL 6(1), 1977), with steps reached at the time
   being processed kept on a stack instead of the heap, a sample stopped once every out node is settled, and each
   out node's attack path backtracked on request. The GIL is released while it runs, so Python threads run blocks
   side by side. sim.py documents the semantics; this file only makes them fast.

   The per-node state a relaxation reads and writes (best time, latest AND parent, parents seen, TTC column,
   in-degree, flags) lives in one 32-byte record: one cache line serves two nodes, where separate arrays cost a
   miss each. Floating-point operations and the heap's order are those of the reference implementation, so times
   and paths are bit-identical to it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Flags in the top bits of Node.meta, below them the AND in-degree. */
#define IS_AND (1u << 31)
#define IS_FIXED (1u << 30)
#define IS_OUT (1u << 29)
#define IS_DONE (1u << 28)
#define FROM_PARENT (1u << 27) /* an AND step's time came from its parents, not from being a source */
#define N_PARENTS_MASK ((1u << 27) - 1)

typedef struct {
    double best;     /* earliest time found so far (final once done) */
    union {
        double latest; /* AND: latest time among the parents seen */
        int64_t pred;  /* OR: the parent that gave its time; -1 for a source */
    };
    int32_t count;   /* AND: parents seen */
    int32_t slot;    /* column of the local TTC row, -1 for none */
    uint32_t meta;   /* flags | AND in-degree */
    int32_t begin;   /* first child edge; the node after it holds the end */
} Node;

typedef struct {
    double t;
    int64_t node;
} Item;

/* -- buffers ------------------------------------------------------------------------------------------------ */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

/* A C-contiguous buffer of ``ndim`` dimensions whose items are of ``kind``: 'i' a signed integer of ``size``
   bytes, '?' bool, 'd' float64. */
static int get_buffer(PyObject *obj, Buf *buf, const char *name, char kind, Py_ssize_t size, int ndim, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0) {
        return -1;
    }
    buf->held = 1;
    const char *format = buf->view.format ? buf->view.format : "B";
    while (*format == '@' || *format == '=' || *format == '<' || *format == '>' || *format == '!') {
        format++;
    }
    int ok = buf->view.itemsize == size && buf->view.ndim == ndim && format[1] == '\0';
    if (ok) {
        if (kind == 'i') {
            ok = strchr("bhilq", format[0]) != NULL;
        } else {
            ok = format[0] == kind;
        }
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %d-d array of %c%zd, got format %s, %d-d", name,
                     ndim, kind, size, buf->view.format ? buf->view.format : "B", buf->view.ndim);
        return -1;
    }
    return 0;
}

static void release(Buf *bufs, int n) {
    for (int i = 0; i < n; i++) {
        if (bufs[i].held) {
            PyBuffer_Release(&bufs[i].view);
            bufs[i].held = 0;
        }
    }
}

/* -- heap --------------------------------------------------------------------------------------------------- */

static inline int64_t heap_push(Item *heap, int64_t size, double t, int64_t node) {
    int64_t i = size;
    heap[i].t = t;
    heap[i].node = node;
    while (i > 0) {
        int64_t parent = (i - 1) >> 1;
        if (heap[parent].t <= heap[i].t) {
            break;
        }
        Item swap = heap[parent];
        heap[parent] = heap[i];
        heap[i] = swap;
        i = parent;
    }
    return size + 1;
}

static inline int64_t heap_pop(Item *heap, int64_t size, double *t, int64_t *node) {
    *t = heap[0].t;
    *node = heap[0].node;
    size -= 1;
    heap[0] = heap[size];
    int64_t i = 0;
    for (;;) {
        int64_t left = 2 * i + 1;
        if (left >= size) {
            break;
        }
        int64_t smallest = left;
        int64_t right = left + 1;
        if (right < size && heap[right].t < heap[left].t) {
            smallest = right;
        }
        if (heap[i].t <= heap[smallest].t) {
            break;
        }
        Item swap = heap[i];
        heap[i] = heap[smallest];
        heap[smallest] = swap;
        i = smallest;
    }
    return size;
}

/* -- one sample --------------------------------------------------------------------------------------------- */

typedef struct {
    const int32_t *child_idx;
    const int64_t *parent_ptr;
    const int32_t *parent_idx;
    Node *node;        /* n + 1 records: the last only marks where the last node's children end */
    int64_t *touched;  /* nodes whose state changed, to reset */
    int64_t *stack;    /* steps reached at the time being processed */
    Item *heap;
    uint8_t *mark;
    int64_t *walk;     /* backtracking's stack */
} Scratch;

static inline void set_pred(Node *nv, int64_t parent) {
    if (nv->meta & IS_AND) {
        if (parent >= 0) {
            nv->meta |= FROM_PARENT;
        } else {
            nv->meta &= ~FROM_PARENT;
        }
    } else {
        nv->pred = parent;
    }
}

/* One sample from the given sources. Scratch comes in clean; the nodes touched are listed for reset_nodes. */
static int64_t one_sample(Scratch *s, const double *local, const int64_t *sources, const double *source_times,
                          int64_t n_sources, int64_t n_out) {
    Node *node = s->node;
    const int32_t *child_idx = s->child_idx;
    int64_t n_touched = 0, size = 0, n_stack = 0, settled = 0;
    for (int64_t k = 0; k < n_sources; k++) {
        double t = source_times[k];
        int64_t v = sources[k];
        Node *nv = &node[v];
        if (t < nv->best) {
            if (nv->best == INFINITY && nv->count == 0) {
                s->touched[n_touched++] = v;
            }
            nv->best = t;
            set_pred(nv, -1);
            size = heap_push(s->heap, size, t, v);
        }
    }
    while (size > 0 || n_stack > 0) {
        double t;
        int64_t v;
        if (n_stack > 0) {
            v = s->stack[--n_stack];
            t = node[v].best;
            if (node[v].meta & IS_DONE) {
                continue;
            }
        } else {
            size = heap_pop(s->heap, size, &t, &v);
            if ((node[v].meta & IS_DONE) || t > node[v].best) {
                continue;
            }
        }
        node[v].meta |= IS_DONE;
        if (node[v].meta & IS_OUT) {
            if (++settled == n_out) {
                break;
            }
        }
        const int32_t end = node[v + 1].begin;
        for (int32_t e = node[v].begin; e < end; e++) {
            const int64_t c = child_idx[e];
            Node *nc = &node[c];
            const uint32_t meta = nc->meta;
            if (meta & (IS_DONE | IS_FIXED)) {
                continue;
            }
            double candidate;
            if (meta & IS_AND) {
                if (nc->count == 0 && nc->best == INFINITY) {
                    s->touched[n_touched++] = c;
                }
                nc->count += 1;
                if (t > nc->latest) {
                    nc->latest = t;
                }
                if ((uint32_t)nc->count != (meta & N_PARENTS_MASK)) {
                    continue;
                }
                candidate = nc->latest + (nc->slot >= 0 ? local[nc->slot] : 0.0);
                if (candidate < nc->best) { /* listed in touched when its first parent came */
                    nc->best = candidate;
                    nc->meta |= FROM_PARENT;
                } else {
                    continue;
                }
            } else {
                candidate = t + (nc->slot >= 0 ? local[nc->slot] : 0.0);
                if (candidate < nc->best) {
                    if (nc->best == INFINITY && nc->count == 0) {
                        s->touched[n_touched++] = c;
                    }
                    nc->best = candidate;
                    nc->pred = v;
                } else {
                    continue;
                }
            }
            if (candidate == t) {
                s->stack[n_stack++] = c;
            } else {
                size = heap_push(s->heap, size, candidate, c);
            }
        }
    }
    return n_touched;
}

static void reset_nodes(Scratch *s, int64_t n_touched) {
    for (int64_t k = 0; k < n_touched; k++) {
        Node *nv = &s->node[s->touched[k]];
        nv->best = INFINITY;
        nv->latest = 0.0;
        nv->count = 0;
        nv->meta &= ~(IS_DONE | FROM_PARENT);
    }
}

/* The parent backtracking follows from ``v`` (an OR step's best parent; -1 for none), or -2 for an AND step
   reached through its parents (all of them, then). */
static inline int64_t backtrack_rule(const Node *nv) {
    if (nv->meta & IS_FIXED) {
        return -1;
    }
    if (nv->meta & IS_AND) {
        return (nv->meta & FROM_PARENT) ? -2 : -1;
    }
    return nv->pred;
}

/* The steps that achieved ``target`` in this sample (an OR step's best parent, an AND step's parents), the target
   first; returns the full count, of which at most ``max_len`` are written to ``path``. Marks are set while walking
   and cleared before returning, whatever was written. */
static int64_t backtrack(Scratch *s, int64_t target, int32_t *path, int64_t max_len) {
    const Node *node = s->node;
    uint8_t *mark = s->mark;
    int64_t *stack = s->walk;
    int64_t n_path = 0;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0 records the path, setting marks; pass 1 (only for a path longer than max_len, recorded in part)
           walks the same steps again, exactly the marked ones this rule reaches, to clear them */
        const uint8_t seen = pass == 0;
        int64_t n_stack = 1;
        stack[0] = target;
        mark[target] = seen;
        while (n_stack > 0) {
            int64_t v = stack[--n_stack];
            if (pass == 0) {
                if (n_path < max_len) {
                    path[n_path] = (int32_t)v;
                }
                n_path++;
            }
            int64_t p = backtrack_rule(&node[v]);
            if (p == -2) {
                for (int64_t e = s->parent_ptr[v]; e < s->parent_ptr[v + 1]; e++) {
                    int64_t parent = s->parent_idx[e];
                    if ((node[parent].meta & IS_DONE) && mark[parent] != seen) {
                        mark[parent] = seen;
                        stack[n_stack++] = parent;
                    }
                }
            } else if (p >= 0 && mark[p] != seen) {
                mark[p] = seen;
                stack[n_stack++] = p;
            }
        }
        if (pass == 0 && n_path <= max_len) {
            for (int64_t k = 0; k < n_path; k++) {
                mark[path[k]] = 0;
            }
            break;
        }
    }
    return n_path;
}

/* -- run_block ---------------------------------------------------------------------------------------------- */

enum {
    A_CHILD_PTR, A_CHILD_IDX, A_N_PARENTS, A_IS_AND, A_FIXED, A_SLOT, A_LOCAL, A_ENTRIES, A_ENTRY_LOCAL,
    A_DEFENSES, A_ENABLED, A_EXISTS, A_OUT_NODES, A_OUT, A_PARENT_PTR, A_PARENT_IDX, A_MAX_PATH, A_PATH_LEN, N_ARGS
};

static const char *const ARG_NAMES[N_ARGS] = {
    "child_ptr", "child_idx", "n_parents", "is_and", "fixed", "ttc_slot", "local", "entries", "entry_local",
    "defense_nodes", "enabled", "exist_nodes", "out_nodes", "out", "parent_ptr", "parent_idx", "max_path", "path_len",
};

static int check(int ok, const char *what) {
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "run_block: %s", what);
    }
    return ok;
}

static PyObject *run_block(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj[N_ARGS];
    if (!PyArg_UnpackTuple(args, "run_block", N_ARGS, N_ARGS, &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5],
                           &obj[6], &obj[7], &obj[8], &obj[9], &obj[10], &obj[11], &obj[12], &obj[13], &obj[14],
                           &obj[15], &obj[16], &obj[17])) {
        return NULL;
    }
    static const char kinds[N_ARGS] = {'i', 'i', 'i', '?', '?', 'i', 'd', 'i', 'd', 'i', '?', 'i', 'i', 'd', 'i', 'i', 'i', 'i'};
    static const Py_ssize_t sizes[N_ARGS] = {8, 4, 4, 1, 1, 8, 8, 8, 8, 8, 1, 8, 8, 8, 8, 4, 4, 8};
    static const int dims[N_ARGS] = {1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 1, 2, 1, 1, 3, 2};
    static const int writable[N_ARGS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1};
    Buf buf[N_ARGS];
    memset(buf, 0, sizeof(buf));
    const long long max_path = PyLong_AsLongLong(obj[A_MAX_PATH]);
    if (max_path < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "run_block: max_path must be >= 0");
        }
        return NULL;
    }
    for (int i = 0; i < N_ARGS; i++) {
        if (i == A_MAX_PATH) {
            continue;
        }
        if (get_buffer(obj[i], &buf[i], ARG_NAMES[i], kinds[i], sizes[i], dims[i], writable[i]) < 0) {
            release(buf, N_ARGS);
            return NULL;
        }
    }
#define LEN(i) (buf[i].view.shape[0])
#define DIM(i, d) (buf[i].view.shape[d])
#define PTR(i, type) ((type *)buf[i].view.buf)
    const int64_t n = LEN(A_N_PARENTS);
    const int64_t samples = DIM(A_LOCAL, 0);
    const int64_t n_entries = LEN(A_ENTRIES), n_def = LEN(A_DEFENSES), n_exist = LEN(A_EXISTS);
    const int64_t n_out = LEN(A_OUT_NODES), n_paths = DIM(A_PATH_LEN, 1);
    const int64_t width = max_path < n + 1 ? max_path : n + 1; /* a path holds each step once at most */
    const int64_t n_edges = LEN(A_CHILD_IDX);
    if (!check(LEN(A_CHILD_PTR) == n + 1 && LEN(A_PARENT_PTR) == n + 1, "pointer arrays must have n + 1 entries") ||
        !check(LEN(A_IS_AND) == n && LEN(A_FIXED) == n && LEN(A_SLOT) == n, "node arrays must have n entries") ||
        !check(n < INT32_MAX && n_edges < INT32_MAX, "more than 2^31 nodes or edges") ||
        !check(DIM(A_ENTRY_LOCAL, 0) == samples && DIM(A_ENTRY_LOCAL, 1) == n_entries, "entry_local shape") ||
        !check(DIM(A_ENABLED, 0) == samples && DIM(A_ENABLED, 1) == n_def, "enabled shape") ||
        !check(DIM(A_OUT, 0) == samples && DIM(A_OUT, 1) == n_out, "out shape") ||
        !check(DIM(A_PATH_LEN, 0) == samples && n_paths <= n_out, "path_len shape")) {
        release(buf, N_ARGS);
        return NULL;
    }
    const int64_t *child_ptr = PTR(A_CHILD_PTR, int64_t);
    const int64_t *parent_ptr = PTR(A_PARENT_PTR, int64_t);
    if (!check(child_ptr[n] == n_edges && parent_ptr[n] == LEN(A_PARENT_IDX), "pointer arrays must end at the edges")) {
        release(buf, N_ARGS);
        return NULL;
    }
    const int32_t *n_parents = PTR(A_N_PARENTS, int32_t);
    const uint8_t *is_and = PTR(A_IS_AND, uint8_t), *fixed = PTR(A_FIXED, uint8_t);
    const int64_t *slot = PTR(A_SLOT, int64_t);
    const int64_t *out_nodes = PTR(A_OUT_NODES, int64_t);
    const int64_t *entries = PTR(A_ENTRIES, int64_t), *defenses = PTR(A_DEFENSES, int64_t);
    const int64_t *exists = PTR(A_EXISTS, int64_t);
    const double *local = PTR(A_LOCAL, double), *entry_local = PTR(A_ENTRY_LOCAL, double);
    const uint8_t *enabled = PTR(A_ENABLED, uint8_t);
    double *out = PTR(A_OUT, double);
    int64_t *path_len = PTR(A_PATH_LEN, int64_t);
    const int64_t row = DIM(A_LOCAL, 1);

    const int32_t *s_child_idx = PTR(A_CHILD_IDX, int32_t), *s_parent_idx = PTR(A_PARENT_IDX, int32_t);
    /* Indices are checked once here (the arrays are the caller's), so the loops below cannot leave them. */
    int bad = 0;
    for (int64_t v = 0; v < n && !bad; v++) {
        bad = slot[v] >= row || slot[v] < -1 || n_parents[v] < 0 || (uint32_t)n_parents[v] > N_PARENTS_MASK ||
              child_ptr[v] > child_ptr[v + 1] || parent_ptr[v] > parent_ptr[v + 1];
    }
    bad = bad || child_ptr[0] != 0 || parent_ptr[0] != 0;
    for (int64_t e = 0; e < n_edges && !bad; e++) {
        bad = s_child_idx[e] < 0 || s_child_idx[e] >= n;
    }
    for (int64_t e = 0; e < LEN(A_PARENT_IDX) && !bad; e++) {
        bad = s_parent_idx[e] < 0 || s_parent_idx[e] >= n;
    }
    const int64_t *lists[4] = {entries, defenses, exists, out_nodes};
    const int64_t lengths[4] = {n_entries, n_def, n_exist, n_out};
    for (int l = 0; l < 4 && !bad; l++) {
        for (int64_t k = 0; k < lengths[l] && !bad; k++) {
            bad = lists[l][k] < 0 || lists[l][k] >= n;
        }
    }
    if (!check(!bad, "an index outside the graph")) {
        release(buf, N_ARGS);
        return NULL;
    }
    const int64_t n_sources = n_entries + n_def + n_exist;
    const int64_t capacity = n + n_edges + n_sources + 1;
    Scratch s = {
        .child_idx = PTR(A_CHILD_IDX, int32_t),
        .parent_ptr = parent_ptr,
        .parent_idx = PTR(A_PARENT_IDX, int32_t),
        .node = malloc(sizeof(Node) * (size_t)(n + 1)),
        .touched = malloc(sizeof(int64_t) * (size_t)(n + 1)),
        .stack = malloc(sizeof(int64_t) * (size_t)capacity),
        .heap = malloc(sizeof(Item) * (size_t)capacity),
        .mark = calloc((size_t)(n + 1), 1),
        .walk = malloc(sizeof(int64_t) * (size_t)(n + 1)),
    };
    int64_t *sources = malloc(sizeof(int64_t) * (size_t)(n_sources + 1));
    double *times = malloc(sizeof(double) * (size_t)(n_sources + 1));
    int32_t *path = malloc(sizeof(int32_t) * (size_t)(width + 1));
    /* The recorded paths, back to back (at most ``width`` steps each), grown as they come. */
    int32_t *stored = NULL;
    size_t n_stored = 0, capacity_stored = 0;
    int out_of_memory = 0;
    if (!s.node || !s.touched || !s.stack || !s.heap || !s.mark || !s.walk || !sources || !times || !path) {
        free(s.node), free(s.touched), free(s.stack), free(s.heap), free(s.mark), free(s.walk);
        free(sources), free(times), free(path);
        release(buf, N_ARGS);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS;
    for (int64_t v = 0; v <= n; v++) {
        Node *nv = &s.node[v];
        nv->best = INFINITY;
        nv->latest = 0.0;
        nv->count = 0;
        nv->begin = (int32_t)child_ptr[v];
        if (v < n) {
            nv->slot = (int32_t)slot[v];
            nv->meta = ((uint32_t)n_parents[v] & N_PARENTS_MASK) | (is_and[v] ? IS_AND : 0) | (fixed[v] ? IS_FIXED : 0);
        }
    }
    int64_t distinct_out = 0;
    for (int64_t j = 0; j < n_out; j++) {
        Node *nv = &s.node[out_nodes[j]];
        if (!(nv->meta & IS_OUT)) {
            nv->meta |= IS_OUT;
            distinct_out++;
        }
    }
    for (int64_t i = 0; i < samples; i++) {
        int64_t k = 0;
        for (int64_t e = 0; e < n_entries; e++) {
            sources[k] = entries[e];
            times[k++] = entry_local[i * n_entries + e];
        }
        for (int64_t d = 0; d < n_def; d++) {
            if (!enabled[i * n_def + d]) {
                sources[k] = defenses[d];
                times[k++] = 0.0;
            }
        }
        for (int64_t e = 0; e < n_exist; e++) {
            sources[k] = exists[e];
            times[k++] = 0.0;
        }
        int64_t n_touched = one_sample(&s, local + i * row, sources, times, k, distinct_out);
        for (int64_t j = 0; j < n_out; j++) {
            const Node *nv = &s.node[out_nodes[j]];
            out[i * n_out + j] = (nv->meta & IS_DONE) ? nv->best : INFINITY;
        }
        for (int64_t j = 0; j < n_paths && !out_of_memory; j++) {
            int64_t target = out_nodes[j], length = 0;
            if (s.node[target].meta & IS_DONE) {
                length = backtrack(&s, target, path, width);
                size_t keep = (size_t)(length < width ? length : width);
                if (n_stored + keep > capacity_stored) {
                    size_t grown = 2 * capacity_stored > n_stored + keep ? 2 * capacity_stored : n_stored + keep + 4096;
                    int32_t *larger = realloc(stored, grown * sizeof(int32_t));
                    if (!larger) {
                        out_of_memory = 1;
                        break;
                    }
                    stored = larger;
                    capacity_stored = grown;
                }
                memcpy(stored + n_stored, path, keep * sizeof(int32_t));
                n_stored += keep;
            }
            path_len[i * n_paths + j] = length;
        }
        reset_nodes(&s, n_touched);
        if (out_of_memory) {
            break;
        }
    }
    Py_END_ALLOW_THREADS;

    free(s.node), free(s.touched), free(s.stack), free(s.heap), free(s.mark), free(s.walk);
    free(sources), free(times), free(path);
    release(buf, N_ARGS);
    PyObject *result = out_of_memory ? PyErr_NoMemory()
                                     : PyBytes_FromStringAndSize((const char *)stored,
                                                                 (Py_ssize_t)(n_stored * sizeof(int32_t)));
    free(stored);
    return result;
#undef LEN
#undef DIM
#undef PTR
}

/* -- causal_order ------------------------------------------------------------------------------------------- */

/* The steps of each path so that each comes after the parents it used: Kahn's topological sort over the graph's
   edges within the path, an AND step after all its parents there, an OR step after one, ties in recorded order.
   ``path`` holds the paths back to back, path i at offsets[i]:offsets[i + 1]; ``out`` (as long) gets each one
   reordered in place of it. Returns None. */
static PyObject *causal_order(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj[6];
    if (!PyArg_UnpackTuple(args, "causal_order", 6, 6, &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5])) {
        return NULL;
    }
    static const char *const names[6] = {"path", "offsets", "child_ptr", "child_idx", "is_and", "out"};
    static const char kinds[6] = {'i', 'i', 'i', 'i', '?', 'i'};
    static const Py_ssize_t sizes[6] = {8, 8, 8, 4, 1, 8};
    Buf buf[6];
    memset(buf, 0, sizeof(buf));
    for (int i = 0; i < 6; i++) {
        if (get_buffer(obj[i], &buf[i], names[i], kinds[i], sizes[i], 1, i == 5) < 0) {
            release(buf, 6);
            return NULL;
        }
    }
    const int64_t *all = buf[0].view.buf, *offsets = buf[1].view.buf, *child_ptr = buf[2].view.buf;
    const int32_t *child_idx = buf[3].view.buf;
    const uint8_t *is_and = buf[4].view.buf;
    int64_t *out_all = buf[5].view.buf;
    const int64_t total = buf[0].view.shape[0], n_paths = buf[1].view.shape[0] - 1, n = buf[4].view.shape[0];
    int ok = buf[5].view.shape[0] == total && buf[2].view.shape[0] == n + 1 && n_paths >= 0 && offsets[0] == 0 &&
             offsets[n_paths] == total && child_ptr[n] == buf[3].view.shape[0];
    for (int64_t i = 0; ok && i < n_paths; i++) {
        ok = offsets[i] <= offsets[i + 1];
    }
    for (int64_t i = 0; ok && i < total; i++) {
        ok = all[i] >= 0 && all[i] < n;
    }
    for (int64_t e = 0; ok && e < buf[3].view.shape[0]; e++) {
        ok = child_idx[e] >= 0 && child_idx[e] < n;
    }
    if (!check(ok, "causal_order: shapes or a step outside the graph")) {
        release(buf, 6);
        return NULL;
    }
    int64_t longest = 0;
    for (int64_t i = 0; i < n_paths; i++) {
        longest = offsets[i + 1] - offsets[i] > longest ? offsets[i + 1] - offsets[i] : longest;
    }
    int64_t *position = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t *indegree = malloc(sizeof(int64_t) * (size_t)(longest + 1));
    int64_t *heap = malloc(sizeof(int64_t) * (size_t)(longest + 1));
    uint8_t *placed = malloc((size_t)longest + 1);
    if (!position || !indegree || !heap || !placed) {
        free(position), free(indegree), free(heap), free(placed);
        release(buf, 6);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS;
    for (int64_t i = 0; i < n; i++) {
        position[i] = -1;
    }
    for (int64_t p = 0; p < n_paths; p++) {
        const int64_t *path = all + offsets[p];
        int64_t *out = out_all + offsets[p];
        const int64_t m = offsets[p + 1] - offsets[p];
        for (int64_t i = 0; i < m; i++) {
            position[path[i]] = i;
            indegree[i] = 0;
            placed[i] = 0;
        }
        for (int64_t i = 0; i < m; i++) {
            int64_t v = path[i];
            for (int64_t e = child_ptr[v]; e < child_ptr[v + 1]; e++) {
                int64_t j = position[child_idx[e]];
                if (j >= 0 && j != i) {
                    indegree[j]++;
                }
            }
        }
        int64_t size = 0, k = 0;
        for (int64_t i = 0; i < m; i++) {
            if (!is_and[path[i]] && indegree[i] > 1) {
                indegree[i] = 1; /* an OR step needs one of its parents before it (the one that gave its time) */
            }
            if (indegree[i] == 0) {
                heap[size++] = i; /* pushed in increasing order: already a heap */
            }
        }
        while (size > 0) {
            int64_t i = heap[0];
            heap[0] = heap[--size];
            int64_t c = 0;
            for (;;) { /* sift down */
                int64_t left = 2 * c + 1;
                if (left >= size) {
                    break;
                }
                int64_t small = left;
                if (left + 1 < size && heap[left + 1] < heap[left]) {
                    small = left + 1;
                }
                if (heap[c] <= heap[small]) {
                    break;
                }
                int64_t swap = heap[c];
                heap[c] = heap[small];
                heap[small] = swap;
                c = small;
            }
            out[k++] = path[i];
            placed[i] = 1;
            int64_t v = path[i];
            for (int64_t e = child_ptr[v]; e < child_ptr[v + 1]; e++) {
                int64_t j = position[child_idx[e]];
                if (j >= 0 && j != i && --indegree[j] == 0) {
                    c = size; /* sift up */
                    heap[size++] = j;
                    while (c > 0 && heap[(c - 1) / 2] > heap[c]) {
                        int64_t parent = (c - 1) / 2, swap = heap[c];
                        heap[c] = heap[parent];
                        heap[parent] = swap;
                        c = parent;
                    }
                }
            }
        }
        for (int64_t i = 0; i < m; i++) { /* every recorded step is reached through the path; kept just in case */
            if (!placed[i]) {
                out[k++] = path[i];
            }
        }
        for (int64_t i = 0; i < m; i++) {
            position[path[i]] = -1;
        }
    }
    Py_END_ALLOW_THREADS;
    free(position), free(indegree), free(heap), free(placed);
    release(buf, 6);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run_block", run_block, METH_VARARGS, "Run a block of samples (see breachpath.sim.run_block)."},
    {"causal_order", causal_order, METH_VARARGS, "Paths in causal order (see breachpath.analysis.causal_orders)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_kernel",
    .m_doc = "breachpath's compiled Monte Carlo kernel.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&module); }
