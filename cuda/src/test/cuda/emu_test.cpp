// Every kernel of kernels.cu run under the CPU emulation (emu.h) against a plain double-precision reference on
// fresh random inputs. A developer check for machines without a GPU: scripts/gpu/emulate-kernels.sh builds and
// runs it. The device run repeats the same comparisons through the Java backend (CudaOpsTest).
#include "../../main/cuda/kernels.cu"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

static std::mt19937_64 rng(12345);
static int failures = 0;

static std::vector<float> randn(size_t n, float std = 1.f, float mean = 0.f) {
    std::normal_distribution<float> d(mean, std);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}
static float bfr(float x) { return __bfloat162float(__float2bfloat16(x)); }  // bf16 rounding
static std::vector<bf16> tobf(const std::vector<float>& v) {
    std::vector<bf16> o(v.size());
    for (size_t i = 0; i < v.size(); i++) o[i] = __float2bfloat16(v[i]);
    return o;
}
static std::vector<float> fromb(const std::vector<bf16>& v) {
    std::vector<float> o(v.size());
    for (size_t i = 0; i < v.size(); i++) o[i] = __bfloat162float(v[i]);
    return o;
}
static std::vector<float> rounded(const std::vector<float>& v) { return fromb(tobf(v)); }

// Relative L2 error of got against ref; also fails on NaN.
static void check(const char* what, const std::vector<float>& got, const std::vector<double>& ref, double tol) {
    double num = 0, den = 0;
    bool nan = false;
    for (size_t i = 0; i < ref.size(); i++) {
        if (std::isnan(got[i])) nan = true;
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    double err = std::sqrt(num / (den > 0 ? den : 1));
    bool ok = !nan && err <= tol;
    if (!ok) failures++;
    std::printf("%-34s rel L2 %.2e (tol %.0e) %s\n", what, err, tol, ok ? "ok" : "FAIL");
}

static void test_norms() {
    int rows = 5, d = 200;
    auto x = rounded(randn(rows * d)), g = rounded(randn(d, 0.2f, 1.f)), b = rounded(randn(d, 0.1f));
    auto xb = tobf(x), gb = tobf(g), bb = tobf(b);
    std::vector<bf16> out(rows * d);
    emu::launch(dim3(rows), dim3(64), [&] { rms_norm(out.data(), xb.data(), gb.data(), d, 1e-6f); });
    std::vector<double> ref(rows * d);
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)x[r * d + j] * x[r * d + j];
        double inv = 1 / std::sqrt(ss / d + 1e-6);
        for (int j = 0; j < d; j++) ref[r * d + j] = g[j] * x[r * d + j] * inv;
    }
    check("rms_norm", fromb(out), ref, 1e-2);

    // per-head groups of 16
    emu::launch(dim3(rows * d / 20), dim3(32), [&] { rms_norm(out.data(), xb.data(), gb.data(), 20, 1e-6f); });
    for (int grp = 0; grp < rows * d / 20; grp++) {
        double ss = 0;
        for (int j = 0; j < 20; j++) ss += (double)x[grp * 20 + j] * x[grp * 20 + j];
        double inv = 1 / std::sqrt(ss / 20 + 1e-6);
        for (int j = 0; j < 20; j++) ref[grp * 20 + j] = g[j] * x[grp * 20 + j] * inv;
    }
    check("rms_norm per group", fromb(out), ref, 1e-2);

    auto res = rounded(randn(rows * d)), add = rounded(randn(rows * d));
    auto resb = tobf(res), addb = tobf(add);
    auto resb0 = resb;
    emu::launch(dim3(rows), dim3(64), [&] { add_rms_norm(resb.data(), out.data(), addb.data(), gb.data(), d, 1e-6f, 0); });
    std::vector<double> refRes(rows * d);
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int j = 0; j < d; j++) {
            refRes[r * d + j] = (double)res[r * d + j] + add[r * d + j];
            ss += refRes[r * d + j] * refRes[r * d + j];
        }
        double inv = 1 / std::sqrt(ss / d + 1e-6);
        for (int j = 0; j < d; j++) ref[r * d + j] = g[j] * refRes[r * d + j] * inv;
    }
    check("add_rms_norm residual", fromb(resb), refRes, 1e-2);
    check("add_rms_norm out", fromb(out), ref, 1e-2);
    // the 16-byte path: 200 = 25 chunks of 8, 32 threads hold one or two chunks each
    auto out2 = out;
    emu::launch(dim3(rows), dim3(32), [&] { add_rms_norm(resb0.data(), out2.data(), addb.data(), gb.data(), d, 1e-6f, 1); });
    check("add_rms_norm residual (16-byte)", fromb(resb0), refRes, 1e-2);
    check("add_rms_norm out (16-byte)", fromb(out2), ref, 1e-2);

    emu::launch(dim3(rows), dim3(64), [&] { layer_norm(out.data(), xb.data(), gb.data(), bb.data(), d, 1e-5f); });
    for (int r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int j = 0; j < d; j++) m += x[r * d + j];
        m /= d;
        for (int j = 0; j < d; j++) v += (x[r * d + j] - m) * (x[r * d + j] - m);
        v /= d;
        for (int j = 0; j < d; j++) ref[r * d + j] = (x[r * d + j] - m) / std::sqrt(v + 1e-5) * g[j] + b[j];
    }
    check("layer_norm", fromb(out), ref, 1e-2);
    // in place
    auto xin = xb;
    emu::launch(dim3(rows), dim3(64), [&] { layer_norm(xin.data(), xin.data(), gb.data(), bb.data(), d, 1e-5f); });
    check("layer_norm in place", fromb(xin), ref, 1e-2);
}

static void test_elementwise() {
    for (int vec = 0; vec < 2; vec++) {
        long long n = 8 * 37 + (vec ? 0 : 5);
        auto a = rounded(randn(n)), b = rounded(randn(n));
        auto ab = tobf(a), bb = tobf(b);
        std::vector<bf16> out(n);
        std::vector<double> ref(n);
        std::string tag = vec ? " (16-byte)" : " (scalar)";
        emu::launch(dim3(3), dim3(32), [&] { add_bf16(out.data(), ab.data(), bb.data(), n, vec); });
        for (long long i = 0; i < n; i++) ref[i] = (double)a[i] + b[i];
        check(("add" + tag).c_str(), fromb(out), ref, 1e-2);

        int cols = vec ? 24 : 13;
        long long nb = (long long)cols * 9;
        auto x = rounded(randn(nb)), bias = rounded(randn(cols));
        auto xb = tobf(x), biasb = tobf(bias);
        emu::launch(dim3(2), dim3(32), [&] { bias_add(xb.data(), biasb.data(), nb, cols, vec); });
        std::vector<double> rb(nb);
        for (long long i = 0; i < nb; i++) rb[i] = (double)x[i] + bias[i % cols];
        check(("bias_add" + tag).c_str(), fromb(xb), rb, 1e-2);

        auto q = ab;
        emu::launch(dim3(2), dim3(32), [&] { quick_gelu(q.data(), n, vec); });
        for (long long i = 0; i < n; i++) ref[i] = a[i] / (1 + std::exp(-1.702 * a[i]));
        check(("quick_gelu" + tag).c_str(), fromb(q), ref, 1e-2);

        auto ge = ab;
        emu::launch(dim3(2), dim3(32), [&] { gelu_erf(ge.data(), n, vec); });
        for (long long i = 0; i < n; i++) ref[i] = 0.5 * a[i] * (1 + std::erf(a[i] / std::sqrt(2.0)));
        check(("gelu_erf" + tag).c_str(), fromb(ge), ref, 1e-2);

        emu::launch(dim3(2), dim3(32), [&] { silu_mul(out.data(), ab.data(), bb.data(), n, vec); });
        for (long long i = 0; i < n; i++) ref[i] = a[i] / (1 + std::exp(-a[i])) * b[i];
        check(("silu_mul" + tag).c_str(), fromb(out), ref, 1e-2);
    }
    long long n = 1000;
    auto f = randn(n);
    std::vector<bf16> ob(n);
    std::vector<float> back(n);
    emu::launch(dim3(2), dim3(64), [&] { f32_to_bf16(ob.data(), f.data(), n); });
    emu::launch(dim3(2), dim3(64), [&] { bf16_to_f32(back.data(), ob.data(), n); });
    std::vector<double> ref(f.begin(), f.end());
    check("f32 -> bf16 -> f32", back, ref, 5e-3);

    std::vector<unsigned short> halves(n);
    for (long long i = 0; i < n; i++) {
        _Float16 h = (_Float16)f[i];
        std::memcpy(&halves[i], &h, 2);
    }
    emu::launch(dim3(2), dim3(64), [&] { f16_to_bf16(ob.data(), halves.data(), n); });
    check("f16 -> bf16", fromb(ob), ref, 5e-3);

    long long rn = 20000;
    std::vector<bf16> r1(rn), r2(rn);
    emu::launch(dim3(4), dim3(128), [&] { random_normal(r1.data(), rn, 42, 0.5f, 2.f); });
    emu::launch(dim3(7), dim3(64), [&] { random_normal(r2.data(), rn, 42, 0.5f, 2.f); });
    double m = 0, v = 0;
    bool same = true;
    for (long long i = 0; i < rn; i++) {
        float x = __bfloat162float(r1[i]);
        m += x;
        v += x * x;
        same &= __bfloat162float(r1[i]) == __bfloat162float(r2[i]);
    }
    m /= rn;
    double sd = std::sqrt(v / rn - m * m);
    bool ok = same && std::fabs(m - 0.5) < 0.05 && std::fabs(sd - 2) < 0.05;
    if (!ok) failures++;
    std::printf("%-34s mean %.3f std %.3f same-for-any-grid %d %s\n", "random_normal", m, sd, same, ok ? "ok" : "FAIL");
}

static void test_rows() {
    int vocab = 50, d = 24, n = 6;
    auto table = rounded(randn(vocab * d));
    auto tb = tobf(table);
    std::vector<int> ids = {3, 0, 49, 7, 7, 12};
    std::vector<bf16> out(n * d);
    emu::launch(dim3(n), dim3(32), [&] { embed_rows(out.data(), tb.data(), ids.data(), d, 1); });
    std::vector<double> ref(n * d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) ref[i * d + j] = table[ids[i] * d + j];
    check("embed_rows", fromb(out), ref, 0);

    std::vector<int> rows = {5, 1, 2};
    std::vector<bf16> g(3 * d);
    emu::launch(dim3(3), dim3(32), [&] { gather_rows(g.data(), out.data(), rows.data(), d, 0); });
    std::vector<double> rg(3 * d);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < d; j++) rg[i * d + j] = ref[rows[i] * d + j];
    check("gather_rows", fromb(g), rg, 0);

    auto dst = out;
    std::vector<int> to = {4, 0, 2};
    emu::launch(dim3(3), dim3(32), [&] { scatter_rows(dst.data(), g.data(), to.data(), d, 1); });
    auto rs = ref;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < d; j++) rs[to[i] * d + j] = rg[i * d + j];
    check("scatter_rows", fromb(dst), rs, 0);

    {
        int batch = 2, c = 3, size = 28, pp = 14, side = size / pp, len = c * pp * pp;
        auto img = rounded(randn((size_t)batch * c * size * size));
        auto imgb = tobf(img);
        std::vector<bf16> rows((size_t)batch * side * side * len);
        emu::launch(dim3(side * side, batch), dim3(128), [&] { patchify(rows.data(), imgb.data(), c, size, pp); });
        std::vector<double> rp(rows.size());
        for (int b = 0; b < batch; b++)
            for (int py = 0; py < side; py++)
                for (int px = 0; px < side; px++)
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < pp; ky++)
                            for (int kx = 0; kx < pp; kx++)
                                rp[(((size_t)b * side + py) * side + px) * len + (ch * pp + ky) * pp + kx] =
                                    img[(((size_t)b * c + ch) * size + py * pp + ky) * size + px * pp + kx];
        check("patchify", fromb(rows), rp, 0);
    }
    int slotsN = 10;
    std::vector<bf16> kc(slotsN * d), vc(slotsN * d);
    std::vector<int> slots = {9, -1, 0, 4, 5, 3};
    emu::launch(dim3(n), dim3(32), [&] { write_kv(kc.data(), vc.data(), out.data(), out.data(), slots.data(), d, 1); });
    std::vector<double> rk(slotsN * d, 0.0);
    for (int i = 0; i < n; i++)
        if (slots[i] >= 0)
            for (int j = 0; j < d; j++) rk[slots[i] * d + j] = ref[i * d + j];
    check("write_kv k", fromb(kc), rk, 0);
    check("write_kv v", fromb(vc), rk, 0);
}

static void rope_ref(std::vector<double>& x, int heads, int hd, const std::vector<int>& pos, double theta,
                     const std::vector<float>* w, double eps) {
    int tokens = pos.size(), half = hd / 2;
    for (int t = 0; t < tokens; t++)
        for (int h = 0; h < heads; h++) {
            double* v = &x[((size_t)t * heads + h) * hd];
            if (w) {
                double ss = 0;
                for (int j = 0; j < hd; j++) ss += v[j] * v[j];
                double inv = 1 / std::sqrt(ss / hd + eps);
                for (int j = 0; j < hd; j++) v[j] = (*w)[j] * v[j] * inv;
            }
            for (int j = 0; j < half; j++) {
                double f = pos[t] * (double)(float)(1.0 / std::pow(theta, 2.0 * j / hd));
                double a = v[j], b = v[j + half];
                v[j] = a * std::cos(f) - b * std::sin(f);
                v[j + half] = b * std::cos(f) + a * std::sin(f);
            }
        }
}

static void test_rope() {
    for (int hd : {8, 16, 128}) {
        int heads = 4, kv = 2, tokens = 3;
        std::vector<int> pos = {0, 17, 4095};
        std::vector<int> slots = {5, -1, 2};
        auto q = rounded(randn(tokens * heads * hd)), k = rounded(randn(tokens * kv * hd)), v = rounded(randn(tokens * kv * hd));
        auto qw = rounded(randn(hd, 0.1f, 1.f)), kw = rounded(randn(hd, 0.1f, 1.f));
        auto qb = tobf(q), kb = tobf(k), vb = tobf(v), qwb = tobf(qw), kwb = tobf(kw);
        std::vector<bf16> kc(8 * kv * hd, __float2bfloat16(0.f)), vc(8 * kv * hd, __float2bfloat16(0.f));
        std::vector<float> inv(hd / 2);
        for (int j = 0; j < hd / 2; j++) inv[j] = (float)(1.0 / std::pow(1e6, 2.0 * j / hd));
        emu::launch(dim3(heads + kv, tokens), dim3(32), [&] {
            qk_norm_rope_kv(qb.data(), kb.data(), vb.data(), qwb.data(), kwb.data(), pos.data(), slots.data(), kc.data(),
                            vc.data(), inv.data(), heads, kv, hd, 1e-6f, 1);
        });
        std::vector<double> rq(q.begin(), q.end()), rk(k.begin(), k.end());
        rope_ref(rq, heads, hd, pos, 1e6, &qw, 1e-6);
        rope_ref(rk, kv, hd, pos, 1e6, &kw, 1e-6);
        std::string tag = " hd" + std::to_string(hd);
        check(("qk_norm_rope q" + tag).c_str(), fromb(qb), rq, 1e-2);
        check(("qk_norm_rope k" + tag).c_str(), fromb(kb), rk, 1e-2);
        std::vector<double> rkc(8 * kv * hd, 0.0), rvc(8 * kv * hd, 0.0);
        for (int t = 0; t < tokens; t++)
            if (slots[t] >= 0)
                for (int j = 0; j < kv * hd; j++) {
                    rkc[slots[t] * kv * hd + j] = rk[t * kv * hd + j];
                    rvc[slots[t] * kv * hd + j] = v[t * kv * hd + j];
                }
        check(("qk_norm_rope kcache" + tag).c_str(), fromb(kc), rkc, 1e-2);
        check(("qk_norm_rope vcache" + tag).c_str(), fromb(vc), rvc, 0);
        // plain rope (no norm, no cache)
        auto q2 = tobf(q);
        emu::launch(dim3(heads, tokens), dim3(32), [&] {
            qk_norm_rope_kv(q2.data(), nullptr, nullptr, nullptr, nullptr, pos.data(), nullptr, nullptr, nullptr, inv.data(), heads, 0,
                            hd, 0.f, 0);
        });
        std::vector<double> rq2(q.begin(), q.end());
        rope_ref(rq2, heads, hd, pos, 1e6, nullptr, 0);
        check(("rope only" + tag).c_str(), fromb(q2), rq2, 1e-2);
    }
}

template <int N> static void test_gemv_n(int m, int k) {
    auto x = rounded(randn(N * k)), w = rounded(randn((size_t)m * k, 0.05f)), bias = rounded(randn(m));
    auto xb = tobf(x), wb = tobf(w), bb = tobf(bias);
    std::vector<double> ref((size_t)N * m);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < m; j++) {
            double s = bias[j];
            for (int c = 0; c < k; c++) s += (double)x[i * k + c] * w[(size_t)j * k + c];
            ref[(size_t)i * m + j] = s;
        }
    int blocks = (m + GEMV_WARPS - 1) / GEMV_WARPS;
    std::vector<float> outF((size_t)N * m);
    std::string tag = " n" + std::to_string(N) + " k" + std::to_string(k);
    auto launchF = [&](auto fn) { emu::launch(dim3(blocks), dim3(GEMV_WARPS * 32), [&] { fn(outF.data(), xb.data(), wb.data(), bb.data(), m, k); }); };
    if constexpr (N == 1) launchF(gemv_f32_n1);
    if constexpr (N == 3) launchF(gemv_f32_n3);
    if constexpr (N == 8) launchF(gemv_f32_n8);
    check(("gemv f32" + tag).c_str(), outF, ref, 1e-4);
    // a grid smaller than the rows: warps loop over them
    std::fill(outF.begin(), outF.end(), 0.f);
    auto launchSmall = [&](auto fn) { emu::launch(dim3(2), dim3(GEMV_WARPS * 32), [&] { fn(outF.data(), xb.data(), wb.data(), bb.data(), m, k); }); };
    if constexpr (N == 1) launchSmall(gemv_f32_n1);
    if constexpr (N == 3) launchSmall(gemv_f32_n3);
    if constexpr (N == 8) launchSmall(gemv_f32_n8);
    check(("gemv f32 grid-stride" + tag).c_str(), outF, ref, 1e-4);

    // three weights in one launch: split w's rows into 3 matrices
    int m0 = m / 2, m1 = m / 4, m2 = m - m0 - m1;
    std::vector<bf16> o0((size_t)N * m0), o1((size_t)N * m1), o2((size_t)N * m2);
    int b3 = (m + GEMV_WARPS - 1) / GEMV_WARPS;
    auto launch3 = [&](auto fn) {
        emu::launch(dim3(b3), dim3(GEMV_WARPS * 32), [&] {
            fn(o0.data(), wb.data(), m0, o1.data(), wb.data() + (size_t)m0 * k, m1, o2.data(), wb.data() + (size_t)(m0 + m1) * k, m2, xb.data(), k);
        });
    };
    if constexpr (N == 1) launch3(gemv3_n1);
    if constexpr (N == 3) launch3(gemv3_n3);
    if constexpr (N == 8) launch3(gemv3_n8);
    std::vector<float> got3;
    std::vector<double> ref3;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < m0; j++) { got3.push_back(__bfloat162float(o0[(size_t)i * m0 + j])); ref3.push_back(ref[(size_t)i * m + j] - bias[j]); }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < m1; j++) { got3.push_back(__bfloat162float(o1[(size_t)i * m1 + j])); ref3.push_back(ref[(size_t)i * m + m0 + j] - bias[m0 + j]); }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < m2; j++) { got3.push_back(__bfloat162float(o2[(size_t)i * m2 + j])); ref3.push_back(ref[(size_t)i * m + m0 + m1 + j] - bias[m0 + m1 + j]); }
    check(("gemv3" + tag).c_str(), got3, ref3, 1e-2);

    // gate/up: rows [0, m/2) gate, [m/2, m) up
    int mh = m / 2;
    std::vector<bf16> os((size_t)N * mh);
    int bs = (mh + GEMV_WARPS - 1) / GEMV_WARPS;
    auto launchS = [&](auto fn) {
        emu::launch(dim3(bs), dim3(GEMV_WARPS * 32), [&] { fn(os.data(), xb.data(), wb.data(), wb.data() + (size_t)mh * k, mh, k); });
    };
    if constexpr (N == 1) launchS(gemv_swiglu_n1);
    if constexpr (N == 3) launchS(gemv_swiglu_n3);
    if constexpr (N == 8) launchS(gemv_swiglu_n8);
    std::vector<double> rs((size_t)N * mh);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < mh; j++) {
            double g = ref[(size_t)i * m + j] - bias[j], u = ref[(size_t)i * m + mh + j] - bias[mh + j];
            rs[(size_t)i * mh + j] = g / (1 + std::exp(-g)) * u;
        }
    check(("gemv_swiglu" + tag).c_str(), fromb(os), rs, 1e-2);
}

// Reference attention of one query row over positions [0, ctx) of a sequence.
static void attn_ref(const std::vector<float>& q, size_t qoff, const std::vector<float>& kc, const std::vector<float>& vc,
                     const std::vector<int>& table, int blockSize, int numKv, int kvh, int hd, int ctx, double* out) {
    std::vector<double> s(ctx);
    double mx = -1e300;
    for (int t = 0; t < ctx; t++) {
        size_t off = ((size_t)table[t / blockSize] * blockSize + t % blockSize) * numKv * hd + (size_t)kvh * hd;
        double d = 0;
        for (int j = 0; j < hd; j++) d += (double)q[qoff + j] * kc[off + j];
        s[t] = d / std::sqrt((double)hd);
        mx = std::max(mx, s[t]);
    }
    double sum = 0;
    for (int t = 0; t < ctx; t++) sum += (s[t] = std::exp(s[t] - mx));
    for (int j = 0; j < hd; j++) out[j] = 0;
    for (int t = 0; t < ctx; t++) {
        size_t off = ((size_t)table[t / blockSize] * blockSize + t % blockSize) * numKv * hd + (size_t)kvh * hd;
        for (int j = 0; j < hd; j++) out[j] += s[t] / sum * vc[off + j];
    }
}

template <int HD> static void test_decode(int numHeads, int numKv, int splits) {
    int blockSize = 16, numBlocks = 40, maxBlocks = 12;
    std::vector<int> ctx = {1, 150, 37};
    int seqs = ctx.size();
    // each sequence gets a random set of distinct blocks
    std::vector<int> perm(numBlocks);
    for (int i = 0; i < numBlocks; i++) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int> tables(seqs * maxBlocks, -1);
    for (int s = 0, next = 0; s < seqs; s++)
        for (int b = 0; b < (ctx[s] + blockSize - 1) / blockSize; b++) tables[s * maxBlocks + b] = perm[next++];
    size_t cacheN = (size_t)numBlocks * blockSize * numKv * HD;
    auto kc = rounded(randn(cacheN)), vc = rounded(randn(cacheN)), q = rounded(randn((size_t)seqs * numHeads * HD));
    auto kcb = tobf(kc), vcb = tobf(vc), qb = tobf(q);
    std::vector<bf16> out((size_t)seqs * numHeads * HD);
    std::vector<float> partO((size_t)seqs * numKv * splits * (numHeads / numKv) * HD), partML((size_t)seqs * numKv * splits * (numHeads / numKv) * 2);
    std::vector<int> counters(seqs * numKv, 0);
    auto fn = HD == 8 ? decode_attn_hd8 : HD == 16 ? decode_attn_hd16 : HD == 32 ? decode_attn_hd32 : HD == 64 ? decode_attn_hd64 : decode_attn_hd128;
    for (int rep = 0; rep < 2; rep++) {  // twice: counters must be back at zero
        emu::launch(dim3(splits, numKv, seqs), dim3(DEC_THREADS), [&] {
            fn(out.data(), qb.data(), kcb.data(), vcb.data(), ctx.data(), tables.data(), maxBlocks, partO.data(), partML.data(),
               counters.data(), numHeads, numKv, blockSize, 1.f / std::sqrt((float)HD));
        });
    }
    std::vector<double> ref(out.size());
    int G = numHeads / numKv;
    for (int s = 0; s < seqs; s++)
        for (int h = 0; h < numHeads; h++) {
            std::vector<int> table(tables.begin() + s * maxBlocks, tables.begin() + (s + 1) * maxBlocks);
            attn_ref(q, ((size_t)s * numHeads + h) * HD, kc, vc, table, blockSize, numKv, h / G, HD, ctx[s], &ref[((size_t)s * numHeads + h) * HD]);
        }
    bool zero = true;
    for (int c : counters) zero &= c == 0;
    if (!zero) failures++;
    std::string tag = "decode_attn hd" + std::to_string(HD) + " G" + std::to_string(G) + " splits" + std::to_string(splits);
    check(tag.c_str(), fromb(out), ref, 1e-2);
}

template <int HD> static void test_prefill(int numHeads, int numKv) {
    // seq 0: a 70-row prompt chunk at positions [10, 80) over a cache holding [0, 80); seq 1: one decode row at 33.
    int blockSize = 16, numBlocks = 12, maxBlocks = 6;
    std::vector<int> queryStart = {0, 70, 71};
    std::vector<int> positions;
    for (int p = 10; p < 80; p++) positions.push_back(p);
    positions.push_back(33);
    std::vector<int> tables = {3, 7, 0, 9, 1, -1, 2, 11, 5, -1, -1, -1};
    std::vector<int> seqOfRow(71, 0);
    seqOfRow[70] = 1;
    std::vector<int> tileSeq = {0, 0, 1}, tileRow = {0, 64, 70};
    int rows = 71;
    size_t cacheN = (size_t)numBlocks * blockSize * numKv * HD;
    auto kc = rounded(randn(cacheN)), vc = rounded(randn(cacheN)), q = rounded(randn((size_t)rows * numHeads * HD));
    auto kcb = tobf(kc), vcb = tobf(vc), qb = tobf(q);
    std::vector<bf16> out((size_t)rows * numHeads * HD);
    auto fn = HD == 8 ? prefill_attn_hd8 : HD == 16 ? prefill_attn_hd16 : HD == 32 ? prefill_attn_hd32 : HD == 64 ? prefill_attn_hd64 : prefill_attn_hd128;
    emu::launch(dim3(3, numHeads), dim3(PF_THREADS), [&] {
        fn(out.data(), qb.data(), kcb.data(), vcb.data(), tileSeq.data(), tileRow.data(), queryStart.data(), positions.data(),
           tables.data(), maxBlocks, numHeads, numKv, blockSize, 1.f / std::sqrt((float)HD));
    });
    std::vector<double> ref(out.size());
    int G = numHeads / numKv;
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < numHeads; h++) {
            int s = seqOfRow[r];
            std::vector<int> table(tables.begin() + s * maxBlocks, tables.begin() + (s + 1) * maxBlocks);
            attn_ref(q, ((size_t)r * numHeads + h) * HD, kc, vc, table, blockSize, numKv, h / G, HD, positions[r] + 1,
                     &ref[((size_t)r * numHeads + h) * HD]);
        }
    std::string tag = "prefill_attn hd" + std::to_string(HD) + " G" + std::to_string(G);
    check(tag.c_str(), fromb(out), ref, 1e-2);
}

static void test_dense_softmax() {
    int rows = 7, n = 77, ld = 80;
    auto s = randn(rows * ld, 3.f);
    std::vector<bf16> p(rows * ld, __float2bfloat16(0.f));
    emu::launch(dim3(2), dim3(128), [&] { softmax_rows(p.data(), s.data(), n, ld, rows); });
    std::vector<double> ref(rows * ld, 0.0);
    for (int r = 0; r < rows; r++) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < n; j++) mx = std::max(mx, (double)s[r * ld + j]);
        for (int j = 0; j < n; j++) sum += std::exp(s[r * ld + j] - mx);
        for (int j = 0; j < n; j++) ref[r * ld + j] = std::exp(s[r * ld + j] - mx) / sum;
    }
    check("softmax_rows", fromb(p), ref, 1e-2);

    int batch = 2, heads = 3, seq = 5, hd = 4;
    std::vector<unsigned long long> ptrs(6 * batch * heads);
    bf16* base = reinterpret_cast<bf16*>(0x100000);
    float* sb = reinterpret_cast<float*>(0x900000);
    emu::launch(dim3(1), dim3(32), [&] {
        dense_attn_ptrs(ptrs.data(), base, base + 1000, base + 2000, sb, base + 3000, base + 4000, batch, heads, seq, hd, 8);
    });
    bool ok = true;
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++) {
            int i = b * heads + h;
            size_t x = (size_t)b * seq * heads * hd + h * hd;
            ok &= ptrs[1 * 6 + i] == (unsigned long long)(base + x);
            ok &= ptrs[0 * 6 + i] == (unsigned long long)(base + 1000 + x);
            ok &= ptrs[2 * 6 + i] == (unsigned long long)(sb + (size_t)i * seq * 8);
            ok &= ptrs[5 * 6 + i] == (unsigned long long)(base + 4000 + x);
        }
    if (!ok) failures++;
    std::printf("%-34s %s\n", "dense_attn_ptrs", ok ? "ok" : "FAIL");
}

template <int HD> static void test_dense_flash(int batch, int seq, int heads) {
    int width = heads * HD;
    size_t n = (size_t)batch * seq * width;
    auto q = rounded(randn(n)), k = rounded(randn(n)), v = rounded(randn(n));
    auto qb = tobf(q), kb = tobf(k), vb = tobf(v);
    std::vector<bf16> out(n);
    auto fn = HD == 16 ? dense_flash_attn_hd16 : HD == 32 ? dense_flash_attn_hd32 : HD == 64 ? dense_flash_attn_hd64 : dense_flash_attn_hd128;
    float scale = 1.f / std::sqrt((float)HD);
    emu::launch(dim3((seq + FA_ROWS - 1) / FA_ROWS, batch * heads), dim3(FA_THREADS), [&] { fn(out.data(), qb.data(), kb.data(), vb.data(), seq, heads, scale); });
    std::vector<double> ref(n);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < seq; i++) {
                std::vector<double> sc(seq);
                double mx = -1e300, sum = 0;
                for (int j = 0; j < seq; j++) {
                    double d = 0;
                    for (int e = 0; e < HD; e++) d += (double)q[((size_t)b * seq + i) * width + h * HD + e] * k[((size_t)b * seq + j) * width + h * HD + e];
                    sc[j] = d * scale;
                    mx = std::max(mx, sc[j]);
                }
                for (int j = 0; j < seq; j++) sum += (sc[j] = std::exp(sc[j] - mx));
                for (int e = 0; e < HD; e++) {
                    double o = 0;
                    for (int j = 0; j < seq; j++) o += sc[j] / sum * v[((size_t)b * seq + j) * width + h * HD + e];
                    ref[((size_t)b * seq + i) * width + h * HD + e] = o;
                }
            }
    std::string tag = "dense_flash_attn hd" + std::to_string(HD) + " seq" + std::to_string(seq);
    check(tag.c_str(), fromb(out), ref, 2e-2);
}

static void test_sampling() {
    int rows = 3, vocab = 5000;
    auto l = randn(rows * vocab);
    l[1 * vocab + 4999] = 10.f;
    l[2 * vocab + 17] = 9.f;
    l[2 * vocab + 18] = 9.f;  // tie: the lower id wins
    std::vector<int> out(rows);
    emu::launch(dim3(rows), dim3(SAMPLE_THREADS), [&] { argmax_rows_f32(out.data(), l.data(), vocab); });
    int best0 = 0;
    for (int i = 1; i < vocab; i++)
        if (l[i] > l[best0]) best0 = i;
    bool ok = out[0] == best0 && out[1] == 4999 && out[2] == 17;
    auto lb = tobf(l);
    std::vector<int> outb(rows);
    emu::launch(dim3(rows), dim3(SAMPLE_THREADS), [&] { argmax_rows_bf16(outb.data(), lb.data(), vocab); });
    ok &= outb[1] == 4999 && outb[2] == 17;
    // temperature 0 rows are greedy; a hot row lands on many different ids over seeds
    std::vector<float> temp = {0.f, 0.f, 0.f};
    std::vector<unsigned long long> seeds = {1, 2, 3};
    std::vector<int> outs(rows);
    emu::launch(dim3(rows), dim3(SAMPLE_THREADS), [&] { sample_rows_f32(outs.data(), l.data(), vocab, temp.data(), seeds.data()); });
    ok &= outs[0] == best0 && outs[1] == 4999 && outs[2] == 17;
    if (!ok) failures++;
    std::printf("%-34s %s\n", "argmax / greedy sample", ok ? "ok" : "FAIL");

    // Two logits: p(a) = 1 / (1 + e^-1) = 0.731 at T = 1.
    std::vector<float> two = {1.f, 0.f};
    std::vector<float> t1 = {1.f};
    int hitsA = 0, draws = 400;
    for (int d = 0; d < draws; d++) {
        std::vector<unsigned long long> sd = {(unsigned long long)d * 7919 + 1};
        std::vector<int> o(1);
        emu::launch(dim3(1), dim3(32), [&] { sample_rows_f32(o.data(), two.data(), 2, t1.data(), sd.data()); });
        hitsA += o[0] == 0;
    }
    double pa = (double)hitsA / draws;
    bool ok2 = std::fabs(pa - 0.731) < 0.07;
    if (!ok2) failures++;
    std::printf("%-34s p(a) = %.3f (expect 0.731) %s\n", "gumbel sample", pa, ok2 ? "ok" : "FAIL");
}

// The CPU Sampler's kept set and probabilities (sort, top-k, normalise, min-p, top-p) in double.
static std::vector<std::pair<int, double>> kept_set(const std::vector<float>& l, float t, int top_k, float min_p, float top_p) {
    int n = (int)l.size();
    std::vector<int> order(n);
    for (int i = 0; i < n; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
    int keep = top_k > 0 && top_k < n ? top_k : n;
    std::vector<double> p(keep);
    double sum = 0;
    for (int i = 0; i < keep; i++) sum += p[i] = std::exp((double)l[order[i]] / t - (double)l[order[0]] / t);
    for (auto& x : p) x /= sum;
    if (min_p > 0) {
        int k = 1;
        while (k < keep && p[k] >= min_p * p[0]) k++;
        keep = k;
    }
    if (top_p < 1) {
        double cum = 0;
        int k = 0;
        while (k < keep) {
            cum += p[k++];
            if (cum >= top_p) break;
        }
        keep = k;
    }
    double total = 0;
    for (int i = 0; i < keep; i++) total += p[i];
    std::vector<std::pair<int, double>> out;
    for (int i = 0; i < keep; i++) out.push_back({order[i], p[i] / total});
    return out;
}

static SampleRowParams row_params(float t, float top_p, int top_k, float min_p, float pen, int top_n, int hs, int hl, unsigned long long key) {
    SampleRowParams r;
    r.temperature = t, r.top_p = top_p, r.min_p = min_p, r.penalty = pen, r.top_k = top_k, r.top_n = top_n;
    r.hist_start = hs, r.hist_len = hl, r.key = key;
    return r;
}

static void test_sample_full() {
    int vocab = 3000;
    auto l = randn(vocab, 2.f);
    l[100] = 15.f, l[200] = 14.5f;  // above every normal draw; a penalty of 3 puts both below the rest
    // rows: greedy with top-5 log-probs; top_k 1 at T 1.3; greedy with a penalty (ids repeated) and log-probs
    std::vector<int> hist = {100, 100, 5, 200, 100};
    std::vector<SampleRowParams> ps = {row_params(0.f, 1.f, 0, 0.f, 1.f, 5, 0, 0, 1), row_params(1.3f, 1.f, 1, 0.f, 1.f, -1, 0, 0, 99),
                                       row_params(0.f, 1.f, 0, 0.f, 3.f, 0, 0, (int)hist.size(), 3)};
    std::vector<float> rows;
    for (int r = 0; r < 3; r++) rows.insert(rows.end(), l.begin(), l.end());
    std::vector<int> out(3 * SAMPLE_OUT_WORDS);
    std::vector<float> scratch(hist.size());
    emu::launch(dim3(3), dim3(128), [&] { sample_full_f32(out.data(), rows.data(), vocab, ps.data(), hist.data(), scratch.data()); });
    double m = 15, s = 0;
    for (float x : l) s += std::exp((double)x - m);
    double lse = m + std::log(s);
    auto pen = l;
    for (int id : {100, 5, 200}) pen[id] = pen[id] < 0 ? pen[id] * 3 : pen[id] / 3;
    int pbest = 0;
    for (int i = 1; i < vocab; i++)
        if (pen[i] > pen[pbest]) pbest = i;
    auto f = [&](int w) { return __int_as_float(w); };
    bool ok = out[0] == 100 && std::fabs(f(out[1]) - (15 - lse)) < 1e-4 && out[2] == 100 && out[3] == 200 &&
              std::fabs(f(out[2 + SAMPLE_MAX_TOP + 1]) - (14.5 - lse)) < 1e-4;
    ok &= out[SAMPLE_OUT_WORDS] == 100;                    // top_k 1 is greedy
    ok &= out[2 * SAMPLE_OUT_WORDS] == pbest && pbest != 100 && pbest != 200;  // 15 / 3 < the best unpenalised
    ok &= std::fabs(f(out[2 * SAMPLE_OUT_WORDS + 1]) - (l[pbest] - lse)) < 1e-4;  // raw, not penalised
    if (!ok) failures++;
    std::printf("%-34s %s\n", "sample_full greedy/top-k 1/penalty", ok ? "ok" : "FAIL");

    // Distribution: every draw lies in the CPU's kept set, and the frequencies match it (chi-square).
    std::vector<float> small = {2.f, 1.8f, 1.5f, 1.f, 0.5f, 0.f, -1.f, -3.f, 1.2f, 0.9f, -0.5f, 0.2f};
    struct Case { float t, top_p; int top_k; float min_p; };
    for (Case c : {Case{1.f, 1.f, 0, 0.f}, Case{0.7f, 0.8f, 6, 0.f}, Case{1.f, 0.9f, 0, 0.1f}, Case{1.5f, 0.95f, 8, 0.05f}}) {
        int n = (int)small.size(), draws = 800;  // the emulation runs ~0.1 s a row
        std::vector<float> rs;
        std::vector<SampleRowParams> pp;
        for (int d = 0; d < draws; d++) {
            rs.insert(rs.end(), small.begin(), small.end());
            pp.push_back(row_params(c.t, c.top_p, c.top_k, c.min_p, 1.f, -1, 0, 0, 77 + d * 0x9E3779B97F4A7C15ull));
        }
        std::vector<int> o(draws * SAMPLE_OUT_WORDS);
        emu::launch(dim3(draws), dim3(32), [&] { sample_full_f32(o.data(), rs.data(), n, pp.data(), hist.data(), scratch.data()); });
        auto kept = kept_set(small, c.t, c.top_k, c.min_p, c.top_p);
        std::vector<int> hits(n);
        bool inside = true;
        for (int d = 0; d < draws; d++) hits[o[d * SAMPLE_OUT_WORDS]]++;
        double chi = 0;
        std::vector<bool> allowed(n);
        for (auto [id, p] : kept) {
            allowed[id] = true;
            chi += (hits[id] - draws * p) * (hits[id] - draws * p) / (draws * p);
        }
        for (int i = 0; i < n; i++) inside &= allowed[i] || hits[i] == 0;
        // chi-square with |kept| - 1 dof: mean dof, sd sqrt(2 dof); 5 sd is far beyond chance
        double dof = (double)kept.size() - 1, bound = dof + 5 * std::sqrt(2 * std::max(dof, 1.0)) + 1;
        bool good = inside && chi <= bound;
        if (!good) failures++;
        std::printf("sample_full T%.1f p%.2f k%d minp%.2f kept %zu chi2 %.1f (<= %.1f) %s%s\n", c.t, c.top_p, c.top_k, c.min_p, kept.size(), chi,
                    bound, inside ? "" : "OUTSIDE", good ? "ok" : "FAIL");
    }
}

int main() {
    test_norms();
    test_elementwise();
    test_rows();
    test_rope();
    test_gemv_n<1>(40, 2560 + 64);
    test_gemv_n<3>(24, 96);
    test_gemv_n<8>(16, 1024);
    test_decode<8>(8, 2, 1);
    test_decode<8>(8, 2, 5);
    test_decode<16>(4, 2, 1);
    test_decode<16>(4, 2, 4);
    test_decode<128>(8, 2, 3);
    test_decode<128>(32, 8, 16);
    test_decode<64>(16, 16, 2);
    test_prefill<8>(8, 2);
    test_prefill<16>(4, 2);
    test_prefill<128>(8, 2);
    test_dense_softmax();
    test_dense_flash<16>(2, 77, 3);
    test_dense_flash<64>(1, 130, 2);
    test_dense_flash<64>(1, 257, 1);
    test_dense_flash<128>(1, 40, 1);
    test_sampling();
    test_sample_full();
    std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "ALL OK", failures);
    return failures ? 1 : 0;
}
