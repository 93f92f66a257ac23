/* Sub-steps k0 .. k1 - 1 of the cell transmission model of sim.traffic, fused: new trips
 * into the origin queues, signal discharge, cell sending and receiving flows, the node
 * model (destination split, demand-proportional merge), the cell update, vehicle ages,
 * the network counters and the loop detectors' running sums.
 *
 * The same source compiles as CUDA (NVRTC, through gpu/kernels/ctm.py) and as plain C
 * (cc, for the tests on machines without a GPU). On CUDA one thread block runs every
 * sub-step: each phase is a cooperative loop `for (i = tid; i < count; i += nth)` and
 * phases are separated by CTM_SYNC() (__syncthreads), so a coupling step's sub-steps
 * between two host events (route update, demand draw, detector interval end) are one
 * launch. On the CPU one "thread" (tid 0, nth 1) runs each loop and the syncs vanish.
 * Each phase reads only what earlier phases wrote, so both give the same result.
 *
 * It performs exactly the floating-point operations of the xp code it is paired with
 * (sim/traffic/loading.py `substep`, the sub-step loop of sim/traffic/model.py and
 * sim/traffic/detectors.py `accumulate`), in the same order, each rounded once: compile
 * without contraction into fused multiply-adds (NVRTC --fmad=false, cc -ffp-contract=off).
 * Sums over zones, node slots and destinations run in index order, as NumPy's reductions
 * over a non-contiguous axis do; the network counters' sums over a whole array use
 * NumPy's pairwise summation (`pairwise` below: blocks of 128 with 8 accumulators), so
 * results equal NumPy's bit for bit up to the sign of zero.
 *
 * Layout: cell arrays have C entries (the dummy cell last), link arrays L (the dummy link
 * last), (zone, link) arrays are zone-major Z x L, the sending table Z x (L + Z) (links,
 * then the origins), node tables slot-major (KI or KO) x N, origin queues
 * (destination, origin) Z x Z, greens (sub-step, approach).
 */
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#ifndef CTM_THREADS
#define CTM_THREADS 256 /* threads of the one block (gpu/kernels/ctm.py THREADS) */
#endif
#define CTM_FN __device__ static
#define CTM_SYNC() __syncthreads()
#else
#define CTM_FN static
#define CTM_SYNC()
#endif
typedef long long idx_t;
#define TINY 1e-300
#define FOR(i, n) for (idx_t i = tid; i < (n); i += nth)

/* The arguments, in the order of gpu/kernels/ctm.py ARRAYS, then the sizes. */
#define CTM_ARGS                                                                              \
    const double *speed, const double *wave, const double *capacity, const double *jam,     \
        const double *entry, const double *od_per_s, const double *multiplier,               \
        const double *route, const double *greens, const double *fh, const idx_t *first,     \
        const idx_t *last, const idx_t *cell_first_of, const idx_t *cell_last_of,             \
        const idx_t *node_sources, const idx_t *out_links, const idx_t *from_node,           \
        const idx_t *to_node, const idx_t *zone_nodes, const idx_t *link_approach,           \
        const idx_t *exit_zone, const idx_t *exit_link, const idx_t *det_cell,               \
        const double *det_frac, const double *det_occupancy, const double *det_length,       \
        double *vehicles, double *link_dest, double *link_age, double *queue,               \
        double *origin_age, double *approach_green, double *acc_cell_flow,                   \
        double *acc_link_time, double *acc_link_out, double *acc_zone_arrivals,              \
        double *entered, double *exited, double *generated, double *trip_time,               \
        double *vehicle_time, double *waiting_time, double *det_count, double *det_occ,      \
        double *det_dist, double *det_time, double *send, double *recv, double *flow,        \
        double *inflow, double *on_link, double *on_link_now, double *link_out,              \
        double *link_in, double *shortfall, double *sending, double *demand,                 \
        double *node_demand, double *limit, double *arrive, double *leaving,                 \
        double *mean_age, double *waiting, double *waiting_now, double *origin_moved,        \
        double *exits, double *trips, double *new_trips, idx_t C, idx_t L, idx_t Z, idx_t N, \
        idx_t KI, idx_t KO, idx_t NA, idx_t NE, idx_t ND, int poisson, double h, int k0,     \
        int k1
#define CTM_PASS                                                                              \
    speed, wave, capacity, jam, entry, od_per_s, multiplier, route, greens, fh, first, last, \
        cell_first_of, cell_last_of, node_sources, out_links, from_node, to_node, zone_nodes, \
        link_approach, exit_zone, exit_link, det_cell, det_frac, det_occupancy, det_length,   \
        vehicles, link_dest, link_age, queue, origin_age, approach_green, acc_cell_flow,      \
        acc_link_time, acc_link_out, acc_zone_arrivals, entered, exited, generated,           \
        trip_time, vehicle_time, waiting_time, det_count, det_occ, det_dist, det_time, send,  \
        recv, flow, inflow, on_link, on_link_now, link_out, link_in, shortfall, sending,      \
        demand, node_demand, limit, arrive, leaving, mean_age, waiting, waiting_now,          \
        origin_moved, exits, trips, new_trips, C, L, Z, N, KI, KO, NA, NE, ND, poisson, h,    \
        k0, k1

CTM_FN double mn(double a, double b) { return a < b ? a : b; }
CTM_FN double mx(double a, double b) { return a > b ? a : b; }

/* part / whole clipped to [0, 1] (sim/traffic/loading.py _fraction) */
CTM_FN double fraction(double part, double whole) {
    return mn(mx(part / mx(whole, TINY), 0.0), 1.0);
}

/* NumPy's pairwise sum of a contiguous float64 array (numpy/_core/src/umath/
 * loops_utils.h.src, PW_BLOCKSIZE 128, 8 accumulators), the order of `a.sum()`. */
CTM_FN double pairwise(const double *a, idx_t n) {
    if (n < 8) {
        double r = 0.0;
        for (idx_t i = 0; i < n; ++i) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        idx_t i;
        for (int j = 0; j < 8; ++j) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; ++j) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) res += a[i];
        return res;
    }
    idx_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

CTM_FN void ctm_body(idx_t tid, idx_t nth, CTM_ARGS) {
    const idx_t S = L + Z; /* columns of the sending table */
    for (int k = k0; k < k1; ++k) {
        const double *g = greens + (idx_t)k * NA;
        /* new trips, origin queues and what waits at each origin */
        FOR(o, Z) {
            double w = 0.0;
            for (idx_t d = 0; d < Z; ++d) {
                idx_t i = d * Z + o;
                double trips_new = od_per_s[i] * fh[k];
                if (poisson) trips_new = trips_new * multiplier[i];
                new_trips[i] = trips_new;
                double q = queue[i] + trips_new;
                queue[i] = q;
                w = d == 0 ? q : w + q;
            }
            waiting[o] = w;
        }
        FOR(a, NA) approach_green[a] = approach_green[a] + g[a] * h;
        FOR(c, C) {
            double n = vehicles[c];
            send[c] = mn(n * speed[c], capacity[c]);
            recv[c] = mx(mn((jam[c] - n) * wave[c], capacity[c]), 0.0);
        }
        FOR(l, L) {
            double on = link_dest[l];
            for (idx_t z = 1; z < Z; ++z) on += link_dest[z * L + l];
            on_link[l] = on;
        }
        CTM_SYNC();
        /* per-destination sending of links (green-limited) and origins */
        FOR(l, L) {
            idx_t a = link_approach[l];
            double share = fraction(send[last[l]] * (a >= 0 ? g[a] : 1.0), on_link[l]);
            for (idx_t z = 0; z < Z; ++z) sending[z * S + l] = link_dest[z * L + l] * share;
        }
        FOR(o, Z) {
            double share = fraction(entry[o], waiting[o]);
            for (idx_t d = 0; d < Z; ++d) sending[d * S + L + o] = queue[d * Z + o] * share;
        }
        CTM_SYNC();
        FOR(e, NE) { /* vehicles at their destination leave before the signal */
            idx_t z = exit_zone[e], j = exit_link[e];
            sending[z * S + j] = link_dest[z * L + j] * fraction(send[last[j]], on_link[j]);
        }
        CTM_SYNC();
        FOR(i, Z * N) { /* node demand per destination */
            idx_t z = i / N, n = i % N;
            double s = sending[z * S + node_sources[n]];
            for (idx_t r = 1; r < KI; ++r) s += sending[z * S + node_sources[r * N + n]];
            node_demand[i] = s;
        }
        CTM_SYNC();
        FOR(l, L) { /* movements onto each link and the share its supply admits */
            idx_t fn = from_node[l];
            double total = 0.0;
            for (idx_t z = 0; z < Z; ++z) {
                double d = node_demand[z * N + fn] * route[z * L + l];
                demand[z * L + l] = d;
                total = z == 0 ? d : total + d;
            }
            double supply = recv[first[l]];
            shortfall[l] = 1.0 - (total > supply ? supply / mx(total, TINY) : 1.0);
        }
        CTM_SYNC();
        FOR(i, Z * N) { /* most restrictive out-link a destination's vehicles use */
            idx_t z = i / N, n = i % N, j = out_links[n];
            double m = (route[z * L + j] > 0 ? 1.0 : 0.0) * shortfall[j];
            for (idx_t r = 1; r < KO; ++r) {
                j = out_links[r * N + n];
                m = mx(m, (route[z * L + j] > 0 ? 1.0 : 0.0) * shortfall[j]);
            }
            double lim = 1.0 - m;
            limit[i] = lim;
            arrive[i] = node_demand[i] * lim;
        }
        CTM_SYNC();
        FOR(l, L) {
            idx_t tn = to_node[l], fn = from_node[l];
            double out = 0.0, in = 0.0;
            for (idx_t z = 0; z < Z; ++z) {
                double o = limit[z * N + tn] * sending[z * S + l];
                double i = limit[z * N + fn] * demand[z * L + l];
                out = z == 0 ? o : out + o;
                in = z == 0 ? i : in + i;
                link_dest[z * L + l] = (link_dest[z * L + l] + i) - o;
            }
            link_out[l] = out;
            link_in[l] = in;
        }
        FOR(o, Z) {
            idx_t zn = zone_nodes[o];
            double moved = 0.0;
            for (idx_t d = 0; d < Z; ++d) {
                double m = sending[d * S + L + o] * limit[d * N + zn];
                queue[d * Z + o] = queue[d * Z + o] - m;
                moved = d == 0 ? m : moved + m;
            }
            origin_moved[o] = moved;
        }
        FOR(z, Z) exits[z] = arrive[z * N + zone_nodes[z]];
        CTM_SYNC();
        FOR(c, C) { /* cell faces: interior, or the link ends from the node model */
            idx_t lo = cell_last_of[c], li = cell_first_of[c];
            double f = lo >= 0 ? link_out[lo] : mn(send[c], recv[c + 1]);
            double in = li >= 0 ? link_in[li] : mn(send[c - 1], recv[c]);
            flow[c] = f;
            inflow[c] = in;
            vehicles[c] = (vehicles[c] + in) - f;
            acc_cell_flow[c] += f;
        }
        FOR(l, L) {
            double out = link_out[l], on = on_link[l];
            leaving[l] = link_age[l] * fraction(out, on);
            double now = (on + link_in[l]) - out;
            on_link_now[l] = now;
            acc_link_out[l] += out;
            acc_link_time[l] = acc_link_time[l] + now * h;
        }
        FOR(o, Z) {
            double moved = origin_moved[o], w = waiting[o];
            leaving[L + o] = origin_age[o] * fraction(moved, w);
            waiting_now[o] = w - moved;
        }
        CTM_SYNC();
        FOR(n, N) { /* mean age of the vehicles passing each node */
            double s = leaving[node_sources[n]];
            for (idx_t r = 1; r < KI; ++r) s += leaving[node_sources[r * N + n]];
            double arrived = arrive[n];
            for (idx_t z = 1; z < Z; ++z) arrived += arrive[z * N + n];
            mean_age[n] = s / mx(arrived, TINY);
        }
        CTM_SYNC();
        FOR(l, L) {
            link_age[l] = link_age[l] +
                          ((mean_age[from_node[l]] * link_in[l] - leaving[l]) + on_link_now[l] * h);
        }
        FOR(o, Z) origin_age[o] = origin_age[o] + (waiting_now[o] * h - leaving[L + o]);
        FOR(z, Z) {
            acc_zone_arrivals[z] += exits[z];
            trips[z] = mean_age[zone_nodes[z]] * exits[z];
        }
        FOR(i, ND) {
            idx_t c = det_cell[i];
            double f = det_frac[i], n = vehicles[c];
            det_count[i] = det_count[i] + ((1.0 - f) * inflow[c] + f * flow[c]);
            det_occ[i] = det_occ[i] + mn(n * det_occupancy[i], 1.0) * h;
            det_dist[i] = det_dist[i] + flow[c] * det_length[i];
            det_time[i] = det_time[i] + n * h;
        }
        CTM_SYNC();
        if (tid == 0) {
            *generated += pairwise(new_trips, Z * Z);
            *entered = *entered + pairwise(origin_moved, Z);
            *exited = *exited + pairwise(exits, Z);
            *trip_time = *trip_time + pairwise(trips, Z);
            *vehicle_time = *vehicle_time + pairwise(on_link_now, L) * h;
            *waiting_time = *waiting_time + pairwise(waiting_now, Z) * h;
        }
        CTM_SYNC();
    }
}

/* Shortest times to every destination (sim/traffic/routing.py shortest_times): Bellman-Ford
 * sweeps d <- min over out-slots r of (slot_cost[r, n] + d[z, slot_to[r, n]]), 0 at each
 * destination's node, from d (Z x N) until a sweep changes nothing, in place in d; spare
 * (Z x N) is the other buffer, flag one int. The array code tests convergence every few
 * sweeps on the host; sweeps past the fixed point change nothing, so both end with the
 * same d. Without convergence in max_sweeps (non-positive costs) d becomes `bad` (NaN),
 * which the run's health check reports. */
#define ROUTE_ARGS                                                                            \
    const double *slot_cost, const idx_t *slot_to, const idx_t *dest, double *d,            \
        double *spare, int *flag, idx_t Z, idx_t N, idx_t KO, int max_sweeps, double bad
#define ROUTE_PASS slot_cost, slot_to, dest, d, spare, flag, Z, N, KO, max_sweeps, bad

CTM_FN void route_body(idx_t tid, idx_t nth, ROUTE_ARGS) {
    double *cur = d, *next = spare;
    int converged = 0;
    FOR(z, Z) d[z * N + dest[z]] = 0.0;
    CTM_SYNC();
    for (int sweep = 1; sweep <= max_sweeps && !converged; ++sweep) {
        if (tid == 0) *flag = 0;
        CTM_SYNC();
        FOR(i, Z * N) {
            idx_t z = i / N, n = i % N;
            double m = slot_cost[n] + cur[z * N + slot_to[n]];
            for (idx_t r = 1; r < KO; ++r)
                m = mn(m, slot_cost[r * N + n] + cur[z * N + slot_to[r * N + n]]);
            if (n == dest[z]) m = 0.0;
            next[i] = m;
            if (m != cur[i]) *flag = 1;
        }
        CTM_SYNC();
        converged = !*(volatile int *)flag;
        CTM_SYNC();
        double *t = cur;
        cur = next;
        next = t;
    }
    FOR(i, Z * N) d[i] = converged ? cur[i] : bad;
}

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
extern "C" __global__ void __launch_bounds__(CTM_THREADS) ctm_substeps(CTM_ARGS) {
    ctm_body(threadIdx.x, blockDim.x, CTM_PASS);
}
extern "C" __global__ void __launch_bounds__(CTM_THREADS) route_sweeps(ROUTE_ARGS) {
    route_body(threadIdx.x, blockDim.x, ROUTE_PASS);
}
#else
void ctm_substeps(CTM_ARGS) { ctm_body(0, 1, CTM_PASS); }
void route_sweeps(ROUTE_ARGS) { route_body(0, 1, ROUTE_PASS); }
#endif
