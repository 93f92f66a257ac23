/* One transport + sources sub-step of sim.air.AirModel for every species, fused.
 *
 * The same source compiles as CUDA (NVRTC, through gpu/kernels/air.py) and as plain C
 * (cc, for the tests on machines without a GPU): a thread block's work is written as
 * phases of cooperative loops `for (k = tid; k < count; k += nth)` separated by
 * AIR_SYNC(); on the CPU one "thread" (tid 0, nth 1) runs every block in turn and the
 * syncs vanish. Each phase reads only what earlier phases wrote, so both give the same
 * result.
 *
 * It performs exactly the floating-point operations of the xp code it is paired with
 * (sim/air/scheme.py, sim/air/sweeps.py, sim/air/model.py), in the same order, each
 * rounded once: compile without contraction into fused multiply-adds (NVRTC
 * --fmad=false, cc -ffp-contract=off) and the results equal NumPy's bit for bit.
 *
 * A block owns a TILE x TILE tile of output cells. For sweep order "xy" the first axis
 * (p, length n1) is x and the second (q, n2) is y; for "yx" the reverse. Shared tiles
 * are indexed [q + HALO][p + HALO] over a halo of 4 cells: the first pair (advection,
 * exchange, diffusion along p) runs on the tile's rows and 4 rows of halo on each side
 * (rows beyond the domain repeat the edge row: they become the ghost rows of the second
 * pair), the second pair along q on the tile's columns, then decay and emissions.
 *
 * Arguments: cin, cout (species, ny, nx); factor (ny, nx), the wind factor; gain
 * (species, ny, nx) [concentration per sub-step]; p, the parameters (P_* below); ns
 * species; order 0 "xy", 1 "yx".
 */
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define AIR_FN __device__ static inline
#define AIR_SYNC() __syncthreads()
#else
#define AIR_FN static inline
#define AIR_SYNC()
#endif
#ifndef REAL
#define REAL float
#endif
#ifndef TILE
#define TILE 32
#endif
#define HALO 4
#define SPAN (TILE + 2 * HALO)
#define PITCH (SPAN + 1) /* odd: transposed stores fall in distinct shared banks */
#define AT(a, q, p) ((a)[((q) + HALO) * PITCH + (p) + HALO])

/* parameters, one per index; species s has P_BG + 2 s (background) and P_KEEP + 2 s */
#define P_LAM 0   /* sub-step / dx [s m-1] */
#define P_WX 1    /* wind towards +x [m s-1]; the face wind is factor * P_WX */
#define P_WY 2    /* wind towards +y */
#define P_EXX 3   /* 1: vertical exchange after the x advection */
#define P_EXY 4
#define P_DA 5    /* diffusion: -delta**2 / 2 */
#define P_DB 6    /* diffusion: delta**2 - delta */
#define P_DIFF 7  /* 1: diffuse */
#define P_OPEN 8  /* 1: open edges (inflow at background, free outflow) */
#define P_GAIN 9  /* 1: add gain */
#define P_BG 10
#define P_KEEP 11

AIR_FN REAL mx(REAL a, REAL b) { return a > b ? a : b; }
AIR_FN REAL mn(REAL a, REAL b) { return a < b ? a : b; }

/* MC-limited half-slope of a cell from the jumps below (a) and above (c) it. */
AIR_FN REAL half_slope(REAL a, REAL c) {
    REAL h = mx(a, c);
    REAL lo = mn(h, (REAL)0);
    REAL hi = mn(a, c);
    h = h + hi;
    hi = mx(hi, (REAL)0);
    h = h * (REAL)0.25;
    return mx(mn(h, hi), lo);
}

/* Advective flux [concentration] through the face between cells b (below) and c0 (above),
 * from the cells a2 (below b) and d (above c0), face Courant number nu and wind sign. */
AIR_FN REAL flux(REAL a2, REAL b, REAL c0, REAL d, REAL nu, REAL sign) {
    if (sign > 0) {
        REAL pos = mx(nu, (REAL)0);
        REAL c1 = pos * ((REAL)1 - pos);
        REAL g = b * pos;
        REAL t = half_slope(b - a2, c0 - b) * c1;
        return g + t;
    }
    REAL neg = mn(nu, (REAL)0);
    REAL c2 = -neg * ((REAL)1 + neg);
    REAL g = c0 * neg;
    REAL t = half_slope(c0 - b, d - c0) * c2;
    return g + t;
}

/* Courant number of face f (0..n) of a line of n cells at factor[base + i * stride]. */
AIR_FN REAL face_nu(const REAL* factor, long base, long stride, int f, int n, REAL w, REAL lam) {
    REAL face;
    if (f <= 0) face = factor[base] * w;
    else if (f >= n) face = factor[base + (long)(n - 1) * stride] * w;
    else face = (REAL)0.5 * (factor[base + (long)(f - 1) * stride] * w
                             + factor[base + (long)f * stride] * w);
    return face * lam;
}

/* One advection update (with the exchange when ex) of cell i (global i0 + i) of a line
 * whose values are v[i * vs] and face Courant numbers nu[i * vs] (face i below cell i). */
AIR_FN REAL advect(const REAL* v, const REAL* nu, int vs, int ig, int n, REAL sign, int open,
                   int ex, REAL bg) {
    REAL glo = (!open && ig == 0) ? (REAL)0
             : flux(v[-2 * vs], v[-vs], v[0], v[vs], nu[0], sign);
    REAL ghi = (!open && ig + 1 == n) ? (REAL)0
             : flux(v[-vs], v[0], v[vs], v[2 * vs], nu[vs], sign);
    REAL r = (v[0] - ghi) + glo;
    if (ex) {
        REAL d = nu[vs] - nu[0];
        REAL scale = (REAL)1 / ((REAL)1 + mx(-d, (REAL)0));
        r = r * scale;
        r = r + mx(d, (REAL)0) * bg;
    }
    return r;
}

/* Heun (SSP-RK2) diffusive flux through face f (global) of a line of n cells; no flux
 * through the domain edges, zero jumps beyond them. v at face f's upper cell. */
AIR_FN REAL jump(const REAL* v, int vs, int f, int n) {
    return (f <= 0 || f >= n) ? (REAL)0 : v[0] - v[-vs];
}
AIR_FN REAL dflux(const REAL* v, int vs, int f, int n, REAL da, REAL db) {
    if (f <= 0 || f >= n) return (REAL)0;
    REAL t = jump(v - vs, vs, f - 1, n) + jump(v + vs, vs, f + 1, n);
    t = t * da;
    REAL g = jump(v, vs, f, n) * db;
    return g + t;
}
AIR_FN REAL diffuse(const REAL* v, int vs, int ig, int n, REAL da, REAL db) {
    return (v[0] - dflux(v + vs, vs, ig + 1, n, da, db)) + dflux(v, vs, ig, n, da, db);
}

AIR_FN void air_block(int bx, int by, int tid, int nth, const REAL* cin, REAL* cout,
                      const REAL* factor, const REAL* gain, const REAL* p, int ns, int ny,
                      int nx, int order, REAL* buf0, REAL* buf1, REAL* nu1, REAL* nu2) {
    const int xfirst = order == 0;
    const int n1 = xfirst ? nx : ny, n2 = xfirst ? ny : nx;
    const int p0 = (xfirst ? bx : by) * TILE, q0 = (xfirst ? by : bx) * TILE;
    const long s1 = xfirst ? 1 : nx, s2 = xfirst ? nx : 1; /* strides along p, q */
    const REAL lam = p[P_LAM];
    const REAL w1 = p[xfirst ? P_WX : P_WY], w2 = p[xfirst ? P_WY : P_WX];
    const int ex1 = p[xfirst ? P_EXX : P_EXY] != 0, ex2 = p[xfirst ? P_EXY : P_EXX] != 0;
    const int diff = p[P_DIFF] != 0, open = p[P_OPEN] != 0, has_gain = p[P_GAIN] != 0;
    const REAL da = p[P_DA], db = p[P_DB];
    const long cells = (long)ny * nx;
    int k;

    /* Courant numbers: along p for every row of the tile and halo, along q for every
     * column of the tile; faces -HALO..TILE+HALO-1 (face i lies below cell i). The
     * loop's fast index runs along x. */
    for (k = tid; k < SPAN * SPAN; k += nth) {
        int r = k / SPAN - HALO, c = k % SPAN - HALO;
        int q = xfirst ? r : c, i = xfirst ? c : r; /* i: face offset along p */
        int qg = q0 + q < 0 ? 0 : (q0 + q >= n2 ? n2 - 1 : q0 + q);
        int f = p0 + i;
        if (w1 != 0 && f >= 0 && f <= n1)
            AT(nu1, q, i) = face_nu(factor, qg * s2, s1, f, n1, w1, lam);
        /* nu2: face offset q along the q axis, column i */
        f = q0 + q;
        if (w2 != 0 && f >= 0 && f <= n2 && i >= 0 && i < TILE && p0 + i < n1)
            AT(nu2, q, i) = face_nu(factor, (long)(p0 + i) * s1, s2, f, n2, w2, lam);
    }
    for (int s = 0; s < ns; ++s) {
        const REAL* c_in = cin + s * cells;
        const REAL bg = p[P_BG + 2 * s], keep = p[P_KEEP + 2 * s];
        REAL *cur = buf0, *nxt = buf1, *tmp;
        AIR_SYNC();
        /* load, with the ghost cells of the first advection beyond the ends of each row */
        for (k = tid; k < SPAN * SPAN; k += nth) {
            int r = k / SPAN - HALO, c = k % SPAN - HALO;
            int q = xfirst ? r : c, i = xfirst ? c : r;
            int qg = q0 + q < 0 ? 0 : (q0 + q >= n2 ? n2 - 1 : q0 + q);
            int ig = p0 + i;
            REAL v;
            if (ig < 0) {
                v = (open && w1 != 0 && AT(nu1, q, -p0) > 0) ? bg : c_in[qg * s2];
            } else if (ig >= n1) {
                v = (open && w1 != 0 && AT(nu1, q, n1 - p0) < 0) ? bg
                    : c_in[qg * s2 + (long)(n1 - 1) * s1];
            } else {
                v = c_in[qg * s2 + ig * s1];
            }
            AT(cur, q, i) = v;
        }
        AIR_SYNC();
        if (w1 != 0) { /* advection along p, cells -2..TILE+1 of every row */
            for (k = tid; k < SPAN * (TILE + 4); k += nth) {
                int q = k / (TILE + 4) - HALO, i = k % (TILE + 4) - 2, ig = p0 + i;
                if (ig >= 0 && ig < n1)
                    AT(nxt, q, i) = advect(&AT(cur, q, i), &AT(nu1, q, i), 1, ig, n1, w1, open,
                                           ex1, bg);
            }
            tmp = cur; cur = nxt; nxt = tmp;
            AIR_SYNC();
        }
        if (diff) { /* diffusion along p, the tile's cells of every row */
            for (k = tid; k < SPAN * TILE; k += nth) {
                int q = k / TILE - HALO, i = k % TILE, ig = p0 + i;
                if (ig < n1) AT(nxt, q, i) = diffuse(&AT(cur, q, i), 1, ig, n1, da, db);
            }
            tmp = cur; cur = nxt; nxt = tmp;
            AIR_SYNC();
        }
        if (w2 != 0 && open) { /* ghost rows of the second advection: inflow at background */
            for (k = tid; k < SPAN * TILE; k += nth) {
                int q = k / TILE - HALO, i = k % TILE, qg = q0 + q;
                if (p0 + i >= n1 || (qg >= 0 && qg < n2)) continue;
                if ((qg < 0 && AT(nu2, -q0, i) > 0) || (qg >= n2 && AT(nu2, n2 - q0, i) < 0))
                    AT(cur, q, i) = bg;
            }
            AIR_SYNC();
        }
        if (w2 != 0) { /* advection along q, rows -2..TILE+1 of the tile's columns */
            for (k = tid; k < (TILE + 4) * TILE; k += nth) {
                int q = k / TILE - 2, i = k % TILE, qg = q0 + q;
                if (qg >= 0 && qg < n2 && p0 + i < n1)
                    AT(nxt, q, i) = advect(&AT(cur, q, i), &AT(nu2, q, i), PITCH, qg, n2, w2,
                                           open, ex2, bg);
            }
            tmp = cur; cur = nxt; nxt = tmp;
            AIR_SYNC();
        }
        if (diff) { /* diffusion along q */
            for (k = tid; k < TILE * TILE; k += nth) {
                int q = k / TILE, i = k % TILE, qg = q0 + q;
                if (qg < n2 && p0 + i < n1)
                    AT(nxt, q, i) = diffuse(&AT(cur, q, i), PITCH, qg, n2, da, db);
            }
            tmp = cur; cur = nxt; nxt = tmp;
            AIR_SYNC();
        }
        /* decay and deposition, emissions; written with the fast index along x */
        for (k = tid; k < TILE * TILE; k += nth) {
            int r = k / TILE, c = k % TILE;
            int q = xfirst ? r : c, i = xfirst ? c : r;
            int qg = q0 + q, ig = p0 + i;
            if (qg >= n2 || ig >= n1) continue;
            long at = s * cells + qg * s2 + ig * s1;
            REAL v = AT(cur, q, i) * keep;
            if (has_gain) v = v + gain[at];
            cout[at] = v;
        }
    }
}

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
extern "C" __global__ void air_substep(const REAL* cin, REAL* cout, const REAL* factor,
                                       const REAL* gain, const REAL* p, int ns, int ny, int nx,
                                       int order) {
    __shared__ REAL buf0[SPAN * PITCH], buf1[SPAN * PITCH], nu1[SPAN * PITCH],
        nu2[SPAN * PITCH];
    air_block(blockIdx.x, blockIdx.y, threadIdx.x, blockDim.x, cin, cout, factor, gain, p, ns,
              ny, nx, order, buf0, buf1, nu1, nu2);
}
#else
/* The CPU build: every block in turn, one thread. */
void air_substep(const REAL* cin, REAL* cout, const REAL* factor, const REAL* gain,
                 const REAL* p, int ns, int ny, int nx, int order) {
    static REAL buf0[SPAN * PITCH], buf1[SPAN * PITCH], nu1[SPAN * PITCH], nu2[SPAN * PITCH];
    for (int by = 0; by < (ny + TILE - 1) / TILE; ++by)
        for (int bx = 0; bx < (nx + TILE - 1) / TILE; ++bx)
            air_block(bx, by, 0, 1, cin, cout, factor, gain, p, ns, ny, nx, order, buf0, buf1,
                      nu1, nu2);
}
#endif
