/**
 * Writes the WebAssembly text of the framework's SIMD kernels (float64, f64x2): packages/framework/src/math/wasm/kernels.wat
 * is this function's output (generated, committed so that it can be read), compiled by scripts/build-wasm.mjs.
 *
 * Every matrix product here runs one inner loop, {@link tile4x4}: a 4×4 block of the output held in eight f64x2
 * registers over a whole pass of the shared dimension, so each step loads four values of A (as splats) and two
 * vectors of B and does 16 multiply-adds on them, and the output block is read and written once per pass instead of
 * once per step. WebAssembly SIMD has no fused multiply-add in Node 20, so a step is 8 f64x2 multiplies and 8 adds:
 * 32 flops. Generated because the unrolled tile is 4 × the same lines with other registers.
 */

const acc = (i, h) => `$c${i}${h}`;
const ACC = [0, 1, 2, 3].flatMap((i) => [0, 1].map((h) => acc(i, h)));

/**
 * The 4×4 tile loop: `count` steps; step p reads A's four values at `ap` (offsets 0, 8, 16, 24) and B's four at `pb`
 * (two vectors), then advances ap by `aStep` and pb by `bStep` (locals, bytes). Accumulators start at zero.
 */
function tile4x4(label, ap, aStep, pb, bStep, count) {
  return `${ACC.map((a) => `(local.set ${a} (v128.const i64x2 0 0))`).join(' ')}
        (local.set $p (i32.const 0))
        (block $${label}done (loop $${label}
          (br_if $${label}done (i32.ge_s (local.get $p) (local.get ${count})))
          (local.set $b0 (v128.load (local.get ${pb})))
          (local.set $b1 (v128.load offset=16 (local.get ${pb})))
${[0, 1, 2, 3]
  .map(
    (i) => `          (local.set $sp (v128.load64_splat offset=${8 * i} (local.get ${ap})))
          (local.set ${acc(i, 0)} (f64x2.add (local.get ${acc(i, 0)}) (f64x2.mul (local.get $sp) (local.get $b0))))
          (local.set ${acc(i, 1)} (f64x2.add (local.get ${acc(i, 1)}) (f64x2.mul (local.get $sp) (local.get $b1))))`,
  )
  .join('\n')}
          (local.set ${ap} (i32.add (local.get ${ap}) (local.get ${aStep})))
          (local.set ${pb} (i32.add (local.get ${pb}) (local.get ${bStep})))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $${label})))`;
}

/** Adds (op f64x2.add) or subtracts (f64x2.sub) the accumulators into the 4×4 block at `at` with row stride `stride` (bytes); clobbers `at`. */
function store4x4(op, at, stride) {
  return [0, 1, 2, 3]
    .map(
      (i) => `(v128.store (local.get ${at}) (${op} (v128.load (local.get ${at})) (local.get ${acc(i, 0)})))
        (v128.store offset=16 (local.get ${at}) (${op} (v128.load offset=16 (local.get ${at})) (local.get ${acc(i, 1)})))
        (local.set ${at} (i32.add (local.get ${at}) (local.get ${stride})))`,
    )
    .join('\n        ');
}

/**
 * Σ_{q < len} A[q]·B[q] for float64 vectors at byte offsets `a` and `b` into local `out`: four lanes (two f64x2
 * sums) while four values are left, then one by one. Clobbers $da, $db, $dl, $s0, $s1.
 */
function dotInto(out, a, b, len) {
  return `(local.set $da ${a}) (local.set $db ${b}) (local.set $dl ${len})
      (local.set $s0 (v128.const i64x2 0 0)) (local.set $s1 (v128.const i64x2 0 0))
      (block $d4done (loop $d4
        (br_if $d4done (i32.lt_s (local.get $dl) (i32.const 4)))
        (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (v128.load (local.get $da)) (v128.load (local.get $db)))))
        (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (v128.load offset=16 (local.get $da)) (v128.load offset=16 (local.get $db)))))
        (local.set $da (i32.add (local.get $da) (i32.const 32)))
        (local.set $db (i32.add (local.get $db) (i32.const 32)))
        (local.set $dl (i32.sub (local.get $dl) (i32.const 4)))
        (br $d4)))
      (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
      (local.set ${out} (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
      (block $d1done (loop $d1
        (br_if $d1done (i32.le_s (local.get $dl) (i32.const 0)))
        (local.set ${out} (f64.add (local.get ${out}) (f64.mul (f64.load (local.get $da)) (f64.load (local.get $db)))))
        (local.set $da (i32.add (local.get $da) (i32.const 8)))
        (local.set $db (i32.add (local.get $db) (i32.const 8)))
        (local.set $dl (i32.sub (local.get $dl) (i32.const 1)))
        (br $d1)))`;
}

/**
 * {@link dotInto} for several pairs of vectors of the same length at once (pair q: A_q·B_q into outs[q], byte offsets
 * as <q> in the expressions), each sum in exactly the order dotInto adds it: independent dependency chains for the
 * processor to overlap. Clobbers $dl and, for each pair q, $da<q>, $db<q>, $s<q>a, $s<q>b.
 */
function dotIntoN(outs, a, b, len) {
  const Q = outs.map((_, q) => q);
  const each = (f) => Q.map(f).join('\n        ');
  return `${Q.map((q) => `(local.set $da${q} ${a(q)}) (local.set $db${q} ${b(q)})`).join(' ')} (local.set $dl ${len})
      ${Q.map((q) => `(local.set $s${q}a (v128.const i64x2 0 0)) (local.set $s${q}b (v128.const i64x2 0 0))`).join(' ')}
      (block $e4done (loop $e4
        (br_if $e4done (i32.lt_s (local.get $dl) (i32.const 4)))
        ${each((q) => `(local.set $s${q}a (f64x2.add (local.get $s${q}a) (f64x2.mul (v128.load (local.get $da${q})) (v128.load (local.get $db${q})))))`)}
        ${each((q) => `(local.set $s${q}b (f64x2.add (local.get $s${q}b) (f64x2.mul (v128.load offset=16 (local.get $da${q})) (v128.load offset=16 (local.get $db${q})))))`)}
        ${each((q) => `(local.set $da${q} (i32.add (local.get $da${q}) (i32.const 32))) (local.set $db${q} (i32.add (local.get $db${q}) (i32.const 32)))`)}
        (local.set $dl (i32.sub (local.get $dl) (i32.const 4)))
        (br $e4)))
      ${each((q) => `(local.set $s${q}a (f64x2.add (local.get $s${q}a) (local.get $s${q}b)))
        (local.set ${outs[q]} (f64.add (f64x2.extract_lane 0 (local.get $s${q}a)) (f64x2.extract_lane 1 (local.get $s${q}a))))`)}
      (block $e1done (loop $e1
        (br_if $e1done (i32.le_s (local.get $dl) (i32.const 0)))
        ${each((q) => `(local.set ${outs[q]} (f64.add (local.get ${outs[q]}) (f64.mul (f64.load (local.get $da${q})) (f64.load (local.get $db${q})))))
        (local.set $da${q} (i32.add (local.get $da${q}) (i32.const 8))) (local.set $db${q} (i32.add (local.get $db${q}) (i32.const 8)))`)}
        (local.set $dl (i32.sub (local.get $dl) (i32.const 1)))
        (br $e1)))`;
}

/** SOLVE_GROUP systems of cholSolves at a time (see there). */
const SOLVE_GROUP = 4;

/** The forward and backward sweeps of SOLVE_GROUP systems k, k+1, … interleaved (cholSolves' locals). */
function solveGroup() {
  const Q = [...Array(SOLVE_GROUP).keys()];
  const each = (f) => Q.map(f).join('\n        ');
  return `${each((q) => `(local.set $mt${q} (i32.add (local.get $m) (i32.mul (i32.mul (i32.add (local.get $k) (i32.const ${q})) (local.get $p)) (local.get $ps))))
        (local.set $rt${q} (i32.add (local.get $r) (i32.mul (i32.add (local.get $k) (i32.const ${q})) (local.get $ps))))
        (local.set $wt${q} (i32.add (local.get $w) (i32.mul (i32.add (local.get $k) (i32.const ${q})) (local.get $ps))))`)}
      (local.set $i (i32.const 0))
      (block $gfdone (loop $gfl
        (br_if $gfdone (i32.ge_s (local.get $i) (local.get $p)))
        ${each((q) => `(local.set $row${q} (i32.add (local.get $mt${q}) (i32.mul (local.get $i) (local.get $ps))))`)}
        ${dotIntoN(Q.map((q) => `$v${q}`), (q) => `(local.get $row${q})`, (q) => `(local.get $rt${q})`, '(local.get $i)')}
        ${each((q) => `(f64.store (i32.add (local.get $rt${q}) (i32.shl (local.get $i) (i32.const 3)))
          (f64.div (f64.sub (f64.load (i32.add (local.get $rt${q}) (i32.shl (local.get $i) (i32.const 3)))) (local.get $v${q}))
            (f64.load (i32.add (local.get $row${q}) (i32.shl (local.get $i) (i32.const 3))))))`)}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $gfl)))
      (local.set $i (i32.sub (local.get $p) (i32.const 1)))
      (block $gbdone (loop $gbl
        (br_if $gbdone (i32.lt_s (local.get $i) (i32.const 0)))
        ${each((q) => `(local.set $row${q} (i32.add (local.get $mt${q}) (i32.mul (local.get $i) (local.get $ps))))`)}
        ${dotIntoN(
          Q.map((q) => `$v${q}`),
          (q) => `(i32.add (local.get $row${q}) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))`,
          (q) => `(i32.add (local.get $wt${q}) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))`,
          '(i32.sub (i32.sub (local.get $p) (local.get $i)) (i32.const 1))',
        )}
        ${each((q) => `(f64.store (i32.add (local.get $wt${q}) (i32.shl (local.get $i) (i32.const 3)))
          (f64.div (f64.sub (f64.load (i32.add (local.get $rt${q}) (i32.shl (local.get $i) (i32.const 3)))) (local.get $v${q}))
            (f64.load (i32.add (local.get $row${q}) (i32.shl (local.get $i) (i32.const 3))))))`)}
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $gbl)))`;
}

/**
 * The factorizations of SOLVE_GROUP systems k, k+1, … interleaved (cholFactors' locals), each in the order of the
 * one-at-a-time loop. A system that is not positive definite goes on with NaNs (nothing traps) and the group records
 * the first such system in $bad: the one the one-at-a-time loop would have stopped at.
 */
function factorGroup() {
  const Q = [...Array(SOLVE_GROUP).keys()];
  const each = (f) => Q.map(f).join('\n        ');
  return `${each((q) => `(local.set $mt${q} (i32.add (local.get $a) (i32.mul (i32.mul (i32.add (local.get $k) (i32.const ${q})) (local.get $p)) (local.get $ps))))`)}
      (local.set $i (i32.const 0))
      (block $gidone (loop $gil
        (br_if $gidone (i32.ge_s (local.get $i) (local.get $p)))
        ${each((q) => `(local.set $rt${q} (i32.add (local.get $mt${q}) (i32.mul (local.get $i) (local.get $ps))))`)}
        (local.set $j (i32.const 0))
        (block $gjdone (loop $gjl
          (br_if $gjdone (i32.ge_s (local.get $j) (local.get $i)))
          ${each((q) => `(local.set $row${q} (i32.add (local.get $mt${q}) (i32.mul (local.get $j) (local.get $ps))))`)}
          ${dotIntoN(Q.map((q) => `$v${q}`), (q) => `(local.get $rt${q})`, (q) => `(local.get $row${q})`, '(local.get $j)')}
          ${each((q) => `(f64.store (i32.add (local.get $rt${q}) (i32.shl (local.get $j) (i32.const 3)))
            (f64.div (f64.sub (f64.load (i32.add (local.get $rt${q}) (i32.shl (local.get $j) (i32.const 3)))) (local.get $v${q}))
              (f64.load (i32.add (local.get $row${q}) (i32.shl (local.get $j) (i32.const 3))))))`)}
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $gjl)))
        ${dotIntoN(Q.map((q) => `$v${q}`), (q) => `(local.get $rt${q})`, (q) => `(local.get $rt${q})`, '(local.get $i)')}
        ${each((q) => `(local.set $v${q} (f64.sub (f64.load (i32.add (local.get $rt${q}) (i32.shl (local.get $i) (i32.const 3)))) (local.get $v${q})))
        (if (i32.eqz (i32.and (f64.gt (local.get $v${q}) (f64.const 0)) (f64.lt (local.get $v${q}) (f64.const inf))))
          (then (if (i32.or (i32.eqz (local.get $bad)) (i32.lt_s (i32.add (local.get $k) (i32.const ${q + 1})) (local.get $bad)))
            (then (local.set $bad (i32.add (local.get $k) (i32.const ${q + 1})))))))
        (f64.store (i32.add (local.get $rt${q}) (i32.shl (local.get $i) (i32.const 3))) (f64.sqrt (local.get $v${q})))`)}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $gil)))
      (if (local.get $bad) (then (return (local.get $bad))))
      ${each((q) => `;; Lᵀ into the upper triangle of system k + ${q}
      (local.set $i (i32.const 0))
      (block $gu${q}done (loop $gu${q}
        (br_if $gu${q}done (i32.ge_s (local.get $i) (local.get $p)))
        (local.set $rt${q} (i32.add (local.get $mt${q}) (i32.mul (local.get $i) (local.get $ps))))
        (local.set $j (i32.add (local.get $i) (i32.const 1)))
        (block $gm${q}done (loop $gm${q}
          (br_if $gm${q}done (i32.ge_s (local.get $j) (local.get $p)))
          (f64.store (i32.add (local.get $rt${q}) (i32.shl (local.get $j) (i32.const 3)))
            (f64.load (i32.add (i32.add (local.get $mt${q}) (i32.mul (local.get $j) (local.get $ps))) (i32.shl (local.get $i) (i32.const 3)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $gm${q})))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $gu${q})))`)}`;
}

/** The locals {@link solveGroup} uses. */
const GROUP_LOCALS = [...Array(SOLVE_GROUP).keys()]
  .map((q) => `(local $mt${q} i32) (local $rt${q} i32) (local $wt${q} i32) (local $row${q} i32) (local $v${q} f64) (local $da${q} i32) (local $db${q} i32) (local $s${q}a v128) (local $s${q}b v128)`)
  .join(' ');

const TILE_LOCALS = `${ACC.map((a) => `(local ${a} v128)`).join(' ')} (local $sp v128) (local $b0 v128) (local $b1 v128) (local $p i32)`;

/** csrMul: the first `count` nonzeros from position $p: $v<k> their values (splat), $x<k> the byte offsets of their rows of X. */
function csrNonzeros(count) {
  return Array.from(
    { length: count },
    (_, k) => `        (local.set $v${k} (f64x2.splat (f64.load offset=${8 * k} (i32.add (local.get $va) (i32.shl (local.get $p) (i32.const 3))))))
        (local.set $x${k} (i32.add (local.get $x) (i32.mul (i32.load offset=${4 * k} (i32.add (local.get $ci) (i32.shl (local.get $p) (i32.const 2)))) (local.get $rs))))`,
  ).join('\n');
}

/** csrMul: where the pair of columns $c of output row $yo lies. */
const Y_AT = '(i32.add (local.get $yo) (local.get $c))';

/** csrMul: ((v0·x0 + v1·x1) + v2·x2) + v3·x3 for the pair of columns $c, in the order of the JavaScript loop. */
const CSR_SUM4 = `(f64x2.add (f64x2.add (f64x2.add ${[0, 1].map((k) => `(f64x2.mul (local.get $v${k}) (v128.load (i32.add (local.get $x${k}) (local.get $c))))`).join(' ')}) (f64x2.mul (local.get $v2) (v128.load (i32.add (local.get $x2) (local.get $c))))) (f64x2.mul (local.get $v3) (v128.load (i32.add (local.get $x3) (local.get $c)))))`;

/** csrMul: `store` for each pair of columns $c of an output row ($rs bytes), in a loop labelled by `label`. */
function rowPairs(label, store) {
  return `(local.set $c (i32.const 0))
        (block $${label}done (loop $${label}l
          (br_if $${label}done (i32.ge_s (local.get $c) (local.get $rs)))
          ${store}
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br $${label}l)))`;
}

/**
 * The loops of the column-block kernels (cgStep, cgDirection, colDots): for each of the n rows (`perRow` first), for
 * each pair of its m columns, `body` with $c the pair's byte offset in a row (α, β, the dots) and $o its byte offset
 * in an n×m block. Needs the locals $i, $c, $rs, $o and the params $n, $m.
 */
function columnPairs(perRow, body) {
  return `(local.set $rs (i32.shl (local.get $m) (i32.const 3)))
    (local.set $o (i32.const 0))
    (local.set $i (i32.const 0))
    (block $idone (loop $il
      (br_if $idone (i32.ge_s (local.get $i) (local.get $n)))${perRow}
      (local.set $c (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_s (local.get $c) (local.get $rs)))
${body}
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $cl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il)))`;
}

/**
 * The matrix product C ∓= A·B (op 'sub' or 'add'), `gemmSub` and `gemmAdd`: the same loops, only the final
 * subtraction or addition of each entry's sum differs.
 */
function gemm(name, op) {
  return `  (func (export "${name}") (param $c i32) (param $ldc i32) (param $a i32) (param $ars i32) (param $acs i32) (param $b i32) (param $ldb i32)
    (param $m i32) (param $n i32) (param $k i32) (param $s i32) (param $lower i32)
    (local $m4 i32) (local $n4 i32) (local $i i32) (local $j i32) (local $q i32) (local $ncols i32) (local $ncols4 i32)
    (local $ap i32) (local $pb i32) (local $at i32) (local $src i32) (local $dst i32) (local $four i32) (local $cs i32) (local $bs i32) (local $as i32) (local $cst i32)
    (local $sum f64) (local $r i32) (local $row i32)
    ${TILE_LOCALS}
    (local.set $m4 (i32.and (local.get $m) (i32.const -4)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $cs (i32.shl (local.get $ldc) (i32.const 3)))
    (local.set $bs (i32.shl (local.get $ldb) (i32.const 3)))
    (local.set $as (i32.shl (local.get $ars) (i32.const 3)))
    (local.set $cst (i32.shl (local.get $acs) (i32.const 3)))
    (local.set $four (i32.const 32))
    ;; blocks of four rows
    (local.set $i (i32.const 0))
    (block $idone (loop $il
      (br_if $idone (i32.ge_s (local.get $i) (local.get $m4)))
      ;; pack rows i..i+3 of A: scratch[q][r] = A[i + r][q]
      (local.set $q (i32.const 0))
      (block $packdone (loop $pack
        (br_if $packdone (i32.ge_s (local.get $q) (local.get $k)))
        (local.set $src (i32.add (local.get $a) (i32.add (i32.mul (local.get $i) (local.get $as)) (i32.mul (local.get $q) (local.get $cst)))))
        (local.set $dst (i32.add (local.get $s) (i32.shl (local.get $q) (i32.const 5))))
        (f64.store (local.get $dst) (f64.load (local.get $src)))
        (f64.store offset=8 (local.get $dst) (f64.load (i32.add (local.get $src) (local.get $as))))
        (f64.store offset=16 (local.get $dst) (f64.load (i32.add (local.get $src) (i32.shl (local.get $as) (i32.const 1)))))
        (f64.store offset=24 (local.get $dst) (f64.load (i32.add (local.get $src) (i32.mul (local.get $as) (i32.const 3)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $pack)))
      ;; the columns this block needs
      (local.set $ncols (local.get $n))
      (if (local.get $lower) (then (if (i32.lt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)) (then (local.set $ncols (i32.add (local.get $i) (i32.const 4)))))))
      (local.set $ncols4 (i32.and (local.get $ncols) (i32.const -4)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_s (local.get $j) (local.get $ncols4)))
        (local.set $ap (local.get $s))
        (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))))
        ${tile4x4('steps', '$ap', '$four', '$pb', '$bs', '$k')}
        (local.set $at (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $cs)) (i32.shl (local.get $j) (i32.const 3)))))
        ${store4x4(`f64x2.${op}`, '$at', '$cs')}
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jl)))
      ;; columns past the last block of four, for these four rows
      (local.set $r (i32.const 0))
      (block $rdone (loop $rl
        (br_if $rdone (i32.ge_s (local.get $r) (i32.const 4)))
        (local.set $row (i32.add (local.get $i) (local.get $r)))
        (local.set $j (local.get $ncols4))
        (block $tdone (loop $tl
          (br_if $tdone (i32.ge_s (local.get $j) (local.get $ncols)))
          (local.set $sum (f64.const 0))
          (local.set $ap (i32.add (local.get $s) (i32.shl (local.get $r) (i32.const 3))))
          (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $q (i32.const 0))
          (block $qdone (loop $ql
            (br_if $qdone (i32.ge_s (local.get $q) (local.get $k)))
            (local.set $sum (f64.add (local.get $sum) (f64.mul (f64.load (local.get $ap)) (f64.load (local.get $pb)))))
            (local.set $ap (i32.add (local.get $ap) (i32.const 32)))
            (local.set $pb (i32.add (local.get $pb) (local.get $bs)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $ql)))
          (local.set $at (i32.add (local.get $c) (i32.add (i32.mul (local.get $row) (local.get $cs)) (i32.shl (local.get $j) (i32.const 3)))))
          (f64.store (local.get $at) (f64.${op} (f64.load (local.get $at)) (local.get $sum)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $tl)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $il)))
    ;; rows past the last block of four, one by one
    (block $mdone (loop $ml
      (br_if $mdone (i32.ge_s (local.get $i) (local.get $m)))
      (local.set $ncols (local.get $n))
      (if (local.get $lower) (then (if (i32.lt_s (i32.add (local.get $m4) (i32.const 4)) (local.get $n)) (then (local.set $ncols (i32.add (local.get $m4) (i32.const 4)))))))
      (local.set $j (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_s (local.get $j) (local.get $ncols)))
        (local.set $sum (f64.const 0))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $as))))
        (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $q (i32.const 0))
        (block $qdone2 (loop $ql2
          (br_if $qdone2 (i32.ge_s (local.get $q) (local.get $k)))
          (local.set $sum (f64.add (local.get $sum) (f64.mul (f64.load (local.get $ap)) (f64.load (local.get $pb)))))
          (local.set $ap (i32.add (local.get $ap) (local.get $cst)))
          (local.set $pb (i32.add (local.get $pb) (local.get $bs)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql2)))
        (local.set $at (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $cs)) (i32.shl (local.get $j) (i32.const 3)))))
        (f64.store (local.get $at) (f64.${op} (f64.load (local.get $at)) (local.get $sum)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $ml)))
  )`;
}

/** A float64 constant in both lanes (decimal: JavaScript's shortest form reads back as the same double). */
const f2 = (v) => `(v128.const f64x2 ${v} ${v})`;

/** tanh's constants, shared with src/math/tanh.ts (which must compute the same). */
export const TANH = (() => {
  const C = [];
  let f = 1;
  for (let n = 1; n <= 13; n++) {
    f *= n;
    C[n] = 1 / f;
  }
  return { MAGIC: 6755399441055744, INV_LN2: 1.4426950408889634, LN2_HI: 6.9314718036912382e-1, LN2_LO: 1.9082149292705877e-10, TINY: 2 ** -28, C };
})();

export function kernelsWat() {
  return `;; Generated by scripts/wasm-kernels.mjs: do not edit (npm run wasm). WebAssembly SIMD kernels of the framework
;; (float64, f64x2), compiled into kernels-wasm.ts. The caller (src/wasm/kernels.ts) puts operands into this
;; module's memory and handles the edges the kernels leave. Offsets are in bytes, sizes and leading dimensions in
;; float64s, matrices row-major.
;;
;; gram(x, n, d, g): G[j][k] += Σ_r X[r][j]·X[r][k] over the n rows of X (n×d at x) for the 4×4 blocks of G (d×d at
;; g) on or above the diagonal within the first d4 = d − d mod 4 columns. One block per pass over the rows: X's row
;; r gives A's four values (X[r][j..j+3], contiguous) and B's four (X[r][k..k+3]). The caller adds the last d mod 4
;; columns and mirrors the upper triangle.
;;
;; gemmSub(c, ldc, a, ars, acs, b, ldb, m, n, k, s, lower): C −= A·B for C m×n (at c, leading dimension ldc), A
;; m×k with A[i][q] at a + 8·(i·ars + q·acs) (so A may be a transposed view), B k×n. Each block of four rows of A is first copied to the scratch at s (k×4, the four values of each step
;; contiguous, 32k bytes). With lower = 1 only blocks that reach the diagonal (column < row + 4 in C's own indices)
;; are computed: C's lower triangle, and entries above the diagonal inside the diagonal blocks, which the caller
;; must not need. Rows past the last block of four and columns past the last block of four are done one by one.
;;
;; gemmAdd(c, ldc, a, ars, acs, b, ldb, m, n, k, s, lower): C += A·B, otherwise as gemmSub. Each entry of C gets
;; c + (((0 + a₀b₀) + a₁b₁) + …), the products summed in the order of the shared dimension.
;;
;; xty(x, n, d, y, b): b[k] += Σ_r y[r]·X[r][k] over the n rows of X (at x), y at y, b (d values) at b; four rows
;; per pass over b.
;;
;; xw(x, n, d, w, z): z[r] = Σ_k X[r][k]·w[k] for the n rows of X (at x), w (d values) at w, z (n values) at z; four
;; rows per pass over w.
;;
;; cholFactors(a, t, p): for each of t symmetric matrices of order p at a (one after the other), in place: the lower
;; Cholesky factor L (row by row, L[i][j] = (A[i][j] − L[i][0..j)·L[j][0..j)) / L[j][j]: dot products of contiguous
;; rows), then Lᵀ mirrored into the upper triangle. Returns 0, or k + 1 for the first matrix k that is not positive
;; definite (a pivot not > 0 or not finite); the memory of the matrices is then unspecified (factored four at a time, a
;; group that meets such a matrix stops with its others part-way): callers throw.
;;
;; csrMul(rp, ci, va, n, x, m, y): Y = M·X for the n×n CSR matrix M (row pointers int32 at rp, column indices int32 at
;; ci, values at va) and X n×m row-major at x (m even), into Y n×m at y: each row of Y from its nonzeros four at a time,
;; y = ((v0·x0 + v1·x1) + v2·x2) + v3·x3 for the first four, y += that for the next, y += v·x for the rest, two
;; columns per f64x2 (the same operations in the same order as plugin-cpu's JavaScript csrMultiply, column by column).
;;
;; cgStep(x, r, z, p, q, dinv, alpha, n, m, rr, rz): one conjugate-gradient update of m independent columns (n×m
;; row-major blocks, m even): x += α·p, r −= α·q, z = D⁻¹r (dinv: n values, 1 where the diagonal is not positive),
;; rr[c] += r², rz[c] += r·z row by row (α, rr, rz: m values each).
;;
;; cgDirection(p, z, beta, n, m): p = z + β·p column by column (β: m values).
;;
;; tanh(x, y, n): y[i] = tanh(x[i]) for n values (n even; x and y may be the same), two per f64x2: for
;; 2⁻²⁸ ≤ |x| ≤ 22, e = expm1(u) with u = 2|x| when |x| ≥ 1 (then tanh|x| = 1 − 2/(e + 2)) and u = −2|x| below (then
;; tanh|x| = −e/(e + 2)); expm1(u) = 2ᵏ·p + (2ᵏ − 1), k the integer nearest u/ln 2 (ties to even, by adding and
;; subtracting 1.5·2⁵²), r = (u − k·ln2hi) − k·ln2lo, p = r + r²·q(r) with q the Taylor polynomial of (eʳ − 1 − r)/r²
;; to r¹¹ by Estrin's scheme; the sign of x put back. |x| > 22 gives ±1, |x| < 2⁻²⁸ (and NaN) x itself. The same operations
;; in the same order as tanh64 in src/math/tanh.ts.
;;
;; colDots(a, b, n, m, out): out[c] += Σ_i a[i][c]·b[i][c] row by row (n×m blocks, m even).
;;
;; cholSolves(m, t, p, r, w): for each of t systems (L Lᵀ) w = r of order p, their factors at m (p×p each, one after
;; the other) stored as L with Lᵀ mirrored into the upper triangle, so that both sweeps read rows: the forward sweep
;; overwrites r (t×p at r) with L⁻¹r, the backward sweep writes w (t×p at w). ${SOLVE_GROUP} systems at a time (their sweeps
;; are chains of dependent divisions, which the processor overlaps when several are interleaved), each in its own order.
(module
  (memory (export "memory") 1)
  (func (export "gram") (param $x i32) (param $n i32) (param $d i32) (param $g i32)
    (local $rs i32) (local $d4 i32) (local $jt i32) (local $kt i32) (local $ap i32) (local $pb i32) (local $at i32)
    ${TILE_LOCALS}
    (local.set $rs (i32.shl (local.get $d) (i32.const 3)))
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (local.set $jt (i32.const 0))
    (block $jdone (loop $jl
      (br_if $jdone (i32.ge_s (local.get $jt) (local.get $d4)))
      (local.set $kt (local.get $jt))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_s (local.get $kt) (local.get $d4)))
        (local.set $ap (i32.add (local.get $x) (i32.shl (local.get $jt) (i32.const 3))))
        (local.set $pb (i32.add (local.get $x) (i32.shl (local.get $kt) (i32.const 3))))
        ${tile4x4('rows', '$ap', '$rs', '$pb', '$rs', '$n')}
        (local.set $at (i32.add (local.get $g) (i32.add (i32.mul (local.get $jt) (local.get $rs)) (i32.shl (local.get $kt) (i32.const 3)))))
        ${store4x4('f64x2.add', '$at', '$rs')}
        (local.set $kt (i32.add (local.get $kt) (i32.const 4)))
        (br $kl)))
      (local.set $jt (i32.add (local.get $jt) (i32.const 4)))
      (br $jl)))
  )
${gemm('gemmSub', 'sub')}
${gemm('gemmAdd', 'add')}
  (func (export "tanh") (param $x i32) (param $y i32) (param $n i32)
    (local $i i32) (local $v v128) (local $sign v128) (local $a v128) (local $big v128) (local $u v128) (local $kk v128)
    (local $r v128) (local $q v128) (local $p v128) (local $s v128) (local $e v128) (local $d v128) (local $z v128)
    (local $r2 v128) (local $r4 v128) (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128) (local $e4 v128) (local $e5 v128)
    (local.set $i (i32.const 0))
    (block $done (loop $l
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $v (v128.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 3)))))
      (local.set $sign (v128.and (local.get $v) (v128.const i64x2 0x8000000000000000 0x8000000000000000)))
      (local.set $a (f64x2.abs (local.get $v)))
      (local.set $big (f64x2.ge (local.get $a) ${f2(1)}))
      (local.set $u (v128.bitselect (f64x2.mul (local.get $a) ${f2(2)}) (f64x2.mul (local.get $a) ${f2(-2)}) (local.get $big)))
      (local.set $kk (f64x2.sub (f64x2.add (f64x2.mul (local.get $u) ${f2(TANH.INV_LN2)}) ${f2(TANH.MAGIC)}) ${f2(TANH.MAGIC)}))
      (local.set $r (f64x2.sub (f64x2.sub (local.get $u) (f64x2.mul (local.get $kk) ${f2(TANH.LN2_HI)})) (f64x2.mul (local.get $kk) ${f2(TANH.LN2_LO)})))
      ;; q(r) = Σ C[j + 2]·rʲ, j < 12, by Estrin's scheme: pairs, then pairs of pairs with r², r⁴, r⁸
      (local.set $r2 (f64x2.mul (local.get $r) (local.get $r)))
      (local.set $r4 (f64x2.mul (local.get $r2) (local.get $r2)))
${[0, 1, 2, 3, 4, 5].map((j) => `      (local.set $e${j} (f64x2.add ${f2(TANH.C[2 * j + 2])} (f64x2.mul ${f2(TANH.C[2 * j + 3])} (local.get $r))))`).join('\n')}
      (local.set $e0 (f64x2.add (local.get $e0) (f64x2.mul (local.get $e1) (local.get $r2))))
      (local.set $e2 (f64x2.add (local.get $e2) (f64x2.mul (local.get $e3) (local.get $r2))))
      (local.set $e4 (f64x2.add (local.get $e4) (f64x2.mul (local.get $e5) (local.get $r2))))
      (local.set $q (f64x2.add (f64x2.add (local.get $e0) (f64x2.mul (local.get $e2) (local.get $r4))) (f64x2.mul (local.get $e4) (f64x2.mul (local.get $r4) (local.get $r4)))))
      (local.set $p (f64x2.add (local.get $r) (f64x2.mul (local.get $r2) (local.get $q))))
      ;; 2ᵏ from k's bits: k + 1.5·2⁵² is exact and its bit pattern is 1.5·2⁵²'s plus k
      (local.set $s (i64x2.shl (i64x2.add (i64x2.sub (f64x2.add (local.get $kk) ${f2(TANH.MAGIC)}) (v128.const i64x2 0x4338000000000000 0x4338000000000000)) (v128.const i64x2 1023 1023)) (i32.const 52)))
      (local.set $e (f64x2.add (f64x2.mul (local.get $s) (local.get $p)) (f64x2.sub (local.get $s) ${f2(1)})))
      (local.set $d (f64x2.add (local.get $e) ${f2(2)}))
      (local.set $z (v128.bitselect (f64x2.sub ${f2(1)} (f64x2.div ${f2(2)} (local.get $d))) (f64x2.div (f64x2.neg (local.get $e)) (local.get $d)) (local.get $big)))
      (v128.store (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3)))
        (v128.bitselect
          (v128.or (local.get $z) (local.get $sign))
          (v128.bitselect (v128.or ${f2(1)} (local.get $sign)) (local.get $v) (f64x2.gt (local.get $a) ${f2(22)}))
          (v128.and (f64x2.ge (local.get $a) ${f2(TANH.TINY)}) (f64x2.le (local.get $a) ${f2(22)}))))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $l)))
  )
  (func (export "cholFactors") (param $a i32) (param $t i32) (param $p i32) (result i32)
    (local $k i32) (local $i i32) (local $j i32) (local $mt i32) (local $ri i32) (local $rj i32) (local $ps i32) (local $v f64)
    (local $da i32) (local $db i32) (local $dl i32) (local $s0 v128) (local $s1 v128) (local $bad i32)
    ${GROUP_LOCALS}
    (local.set $ps (i32.shl (local.get $p) (i32.const 3)))
    (local.set $k (i32.const 0))
    ;; ${SOLVE_GROUP} factorizations at a time (chains of dependent divisions and square roots, as in cholSolves), then
    ;; the rest one at a time
    (block $gdone (loop $gl
      (br_if $gdone (i32.gt_s (i32.add (local.get $k) (i32.const ${SOLVE_GROUP})) (local.get $t)))
      ${factorGroup()}
      (local.set $k (i32.add (local.get $k) (i32.const ${SOLVE_GROUP})))
      (br $gl)))
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_s (local.get $k) (local.get $t)))
      (local.set $mt (i32.add (local.get $a) (i32.mul (i32.mul (local.get $k) (local.get $p)) (local.get $ps))))
      (local.set $i (i32.const 0))
      (block $idone (loop $il
        (br_if $idone (i32.ge_s (local.get $i) (local.get $p)))
        (local.set $ri (i32.add (local.get $mt) (i32.mul (local.get $i) (local.get $ps))))
        (local.set $j (i32.const 0))
        (block $jdone (loop $jl
          (br_if $jdone (i32.ge_s (local.get $j) (local.get $i)))
          (local.set $rj (i32.add (local.get $mt) (i32.mul (local.get $j) (local.get $ps))))
          ${dotInto('$v', '(local.get $ri)', '(local.get $rj)', '(local.get $j)')}
          (f64.store (i32.add (local.get $ri) (i32.shl (local.get $j) (i32.const 3)))
            (f64.div (f64.sub (f64.load (i32.add (local.get $ri) (i32.shl (local.get $j) (i32.const 3)))) (local.get $v))
              (f64.load (i32.add (local.get $rj) (i32.shl (local.get $j) (i32.const 3))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        ${dotInto('$v', '(local.get $ri)', '(local.get $ri)', '(local.get $i)')}
        (local.set $v (f64.sub (f64.load (i32.add (local.get $ri) (i32.shl (local.get $i) (i32.const 3)))) (local.get $v)))
        (if (i32.eqz (i32.and (f64.gt (local.get $v) (f64.const 0)) (f64.lt (local.get $v) (f64.const inf))))
          (then (return (i32.add (local.get $k) (i32.const 1)))))
        (f64.store (i32.add (local.get $ri) (i32.shl (local.get $i) (i32.const 3))) (f64.sqrt (local.get $v)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      ;; Lᵀ into the upper triangle: A[i][j] = L[j][i] for j > i
      (local.set $i (i32.const 0))
      (block $udone (loop $ul
        (br_if $udone (i32.ge_s (local.get $i) (local.get $p)))
        (local.set $ri (i32.add (local.get $mt) (i32.mul (local.get $i) (local.get $ps))))
        (local.set $j (i32.add (local.get $i) (i32.const 1)))
        (block $mdone (loop $ml
          (br_if $mdone (i32.ge_s (local.get $j) (local.get $p)))
          (f64.store (i32.add (local.get $ri) (i32.shl (local.get $j) (i32.const 3)))
            (f64.load (i32.add (i32.add (local.get $mt) (i32.mul (local.get $j) (local.get $ps))) (i32.shl (local.get $i) (i32.const 3)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $ml)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $ul)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $tl)))
    (i32.const 0)
  )
  (func (export "cholSolves") (param $m i32) (param $t i32) (param $p i32) (param $r i32) (param $w i32)
    (local $k i32) (local $i i32) (local $mt i32) (local $rt i32) (local $wt i32) (local $row i32) (local $ps i32) (local $v f64)
    (local $da i32) (local $db i32) (local $dl i32) (local $s0 v128) (local $s1 v128)
    ${GROUP_LOCALS}
    (local.set $ps (i32.shl (local.get $p) (i32.const 3)))
    (local.set $k (i32.const 0))
    ;; ${SOLVE_GROUP} systems at a time: each sweep is a chain of dependent divisions, and independent chains overlap
    (block $gdone (loop $gl
      (br_if $gdone (i32.gt_s (i32.add (local.get $k) (i32.const ${SOLVE_GROUP})) (local.get $t)))
      ${solveGroup()}
      (local.set $k (i32.add (local.get $k) (i32.const ${SOLVE_GROUP})))
      (br $gl)))
    ;; the rest one at a time
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_s (local.get $k) (local.get $t)))
      (local.set $mt (i32.add (local.get $m) (i32.mul (i32.mul (local.get $k) (local.get $p)) (local.get $ps))))
      (local.set $rt (i32.add (local.get $r) (i32.mul (local.get $k) (local.get $ps))))
      (local.set $wt (i32.add (local.get $w) (i32.mul (local.get $k) (local.get $ps))))
      ;; forward: r_i = (r_i − L[i][0..i)·r[0..i)) / L[i][i]
      (local.set $i (i32.const 0))
      (block $fdone (loop $fl
        (br_if $fdone (i32.ge_s (local.get $i) (local.get $p)))
        (local.set $row (i32.add (local.get $mt) (i32.mul (local.get $i) (local.get $ps))))
        ${dotInto('$v', '(local.get $row)', '(local.get $rt)', '(local.get $i)')}
        (f64.store (i32.add (local.get $rt) (i32.shl (local.get $i) (i32.const 3)))
          (f64.div (f64.sub (f64.load (i32.add (local.get $rt) (i32.shl (local.get $i) (i32.const 3)))) (local.get $v))
            (f64.load (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fl)))
      ;; backward: w_i = (r_i − Lᵀ[i][i+1..p)·w[i+1..p)) / L[i][i]
      (local.set $i (i32.sub (local.get $p) (i32.const 1)))
      (block $bdone (loop $bl
        (br_if $bdone (i32.lt_s (local.get $i) (i32.const 0)))
        (local.set $row (i32.add (local.get $mt) (i32.mul (local.get $i) (local.get $ps))))
        ${dotInto('$v', '(i32.add (local.get $row) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))', '(i32.add (local.get $wt) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))', '(i32.sub (i32.sub (local.get $p) (local.get $i)) (i32.const 1))')}
        (f64.store (i32.add (local.get $wt) (i32.shl (local.get $i) (i32.const 3)))
          (f64.div (f64.sub (f64.load (i32.add (local.get $rt) (i32.shl (local.get $i) (i32.const 3)))) (local.get $v))
            (f64.load (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $bl)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $tl)))
  )
  (func (export "xty") (param $x i32) (param $n i32) (param $d i32) (param $y i32) (param $b i32)
    (local $r i32) (local $k i32) (local $rs i32) (local $n4 i32) (local $d2 i32) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $bp i32) (local $ko i32)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local.set $rs (i32.shl (local.get $d) (i32.const 3)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $d2 (i32.and (local.get $d) (i32.const -2)))
    ;; four rows per pass over b: b is read and written once for four axpys
    (local.set $r (i32.const 0))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_s (local.get $r) (local.get $n4)))
      (local.set $r0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rs))))
      (local.set $r1 (i32.add (local.get $r0) (local.get $rs)))
      (local.set $r2 (i32.add (local.get $r1) (local.get $rs)))
      (local.set $r3 (i32.add (local.get $r2) (local.get $rs)))
      (local.set $y0 (v128.load64_splat (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $y1 (v128.load64_splat offset=8 (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $y2 (v128.load64_splat offset=16 (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $y3 (v128.load64_splat offset=24 (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_s (local.get $k) (local.get $d2)))
        (local.set $ko (i32.shl (local.get $k) (i32.const 3)))
        (local.set $bp (i32.add (local.get $b) (local.get $ko)))
        (v128.store (local.get $bp)
          (f64x2.add (v128.load (local.get $bp))
            (f64x2.add
              (f64x2.add (f64x2.mul (local.get $y0) (v128.load (i32.add (local.get $r0) (local.get $ko))))
                         (f64x2.mul (local.get $y1) (v128.load (i32.add (local.get $r1) (local.get $ko)))))
              (f64x2.add (f64x2.mul (local.get $y2) (v128.load (i32.add (local.get $r2) (local.get $ko))))
                         (f64x2.mul (local.get $y3) (v128.load (i32.add (local.get $r3) (local.get $ko))))))))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $kl)))
      (if (i32.lt_s (local.get $k) (local.get $d))
        (then
          (local.set $ko (i32.shl (local.get $k) (i32.const 3)))
          (local.set $bp (i32.add (local.get $b) (local.get $ko)))
          (f64.store (local.get $bp)
            (f64.add (f64.load (local.get $bp))
              (f64.add
                (f64.add (f64.mul (f64x2.extract_lane 0 (local.get $y0)) (f64.load (i32.add (local.get $r0) (local.get $ko))))
                         (f64.mul (f64x2.extract_lane 0 (local.get $y1)) (f64.load (i32.add (local.get $r1) (local.get $ko)))))
                (f64.add (f64.mul (f64x2.extract_lane 0 (local.get $y2)) (f64.load (i32.add (local.get $r2) (local.get $ko))))
                         (f64.mul (f64x2.extract_lane 0 (local.get $y3)) (f64.load (i32.add (local.get $r3) (local.get $ko))))))))))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $rl)))
    ;; the rows past the last block of four
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_s (local.get $r) (local.get $n)))
      (local.set $r0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rs))))
      (local.set $y0 (v128.load64_splat (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $k (i32.const 0))
      (block $k1done (loop $k1l
        (br_if $k1done (i32.ge_s (local.get $k) (local.get $d2)))
        (local.set $ko (i32.shl (local.get $k) (i32.const 3)))
        (local.set $bp (i32.add (local.get $b) (local.get $ko)))
        (v128.store (local.get $bp) (f64x2.add (v128.load (local.get $bp)) (f64x2.mul (local.get $y0) (v128.load (i32.add (local.get $r0) (local.get $ko))))))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $k1l)))
      (if (i32.lt_s (local.get $k) (local.get $d))
        (then
          (local.set $ko (i32.shl (local.get $k) (i32.const 3)))
          (local.set $bp (i32.add (local.get $b) (local.get $ko)))
          (f64.store (local.get $bp) (f64.add (f64.load (local.get $bp)) (f64.mul (f64x2.extract_lane 0 (local.get $y0)) (f64.load (i32.add (local.get $r0) (local.get $ko))))))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $tl)))
  )
  (func (export "xw") (param $x i32) (param $n i32) (param $d i32) (param $w i32) (param $z i32)
    (local $r i32) (local $k i32) (local $rs i32) (local $n4 i32) (local $d2 i32) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $ko i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $wk v128) (local $t f64)
    (local.set $rs (i32.shl (local.get $d) (i32.const 3)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $d2 (i32.and (local.get $d) (i32.const -2)))
    ;; four rows per pass over w: four independent dot products sharing each load of w
    (local.set $r (i32.const 0))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_s (local.get $r) (local.get $n4)))
      (local.set $r0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rs))))
      (local.set $r1 (i32.add (local.get $r0) (local.get $rs)))
      (local.set $r2 (i32.add (local.get $r1) (local.get $rs)))
      (local.set $r3 (i32.add (local.get $r2) (local.get $rs)))
      (local.set $a0 (v128.const i64x2 0 0)) (local.set $a1 (v128.const i64x2 0 0)) (local.set $a2 (v128.const i64x2 0 0)) (local.set $a3 (v128.const i64x2 0 0))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_s (local.get $k) (local.get $d2)))
        (local.set $ko (i32.shl (local.get $k) (i32.const 3)))
        (local.set $wk (v128.load (i32.add (local.get $w) (local.get $ko))))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $wk) (v128.load (i32.add (local.get $r0) (local.get $ko))))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $wk) (v128.load (i32.add (local.get $r1) (local.get $ko))))))
        (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $wk) (v128.load (i32.add (local.get $r2) (local.get $ko))))))
        (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $wk) (v128.load (i32.add (local.get $r3) (local.get $ko))))))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $kl)))
      (local.set $ko (i32.add (local.get $z) (i32.shl (local.get $r) (i32.const 3))))
${[0, 1, 2, 3]
  .map(
    (i) => `      (local.set $t (f64.add (f64x2.extract_lane 0 (local.get $a${i})) (f64x2.extract_lane 1 (local.get $a${i}))))
      (if (i32.lt_s (local.get $k) (local.get $d))
        (then (local.set $t (f64.add (local.get $t) (f64.mul (f64.load (i32.add (local.get $w) (i32.shl (local.get $k) (i32.const 3)))) (f64.load (i32.add (local.get $r${i}) (i32.shl (local.get $k) (i32.const 3)))))))))
      (f64.store offset=${8 * i} (local.get $ko) (local.get $t))`,
  )
  .join('\n')}
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $rl)))
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_s (local.get $r) (local.get $n)))
      (local.set $r0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rs))))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $k (i32.const 0))
      (block $k1done (loop $k1l
        (br_if $k1done (i32.ge_s (local.get $k) (local.get $d2)))
        (local.set $ko (i32.shl (local.get $k) (i32.const 3)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (i32.add (local.get $w) (local.get $ko))) (v128.load (i32.add (local.get $r0) (local.get $ko))))))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $k1l)))
      (local.set $t (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))
      (if (i32.lt_s (local.get $k) (local.get $d))
        (then (local.set $t (f64.add (local.get $t) (f64.mul (f64.load (i32.add (local.get $w) (i32.shl (local.get $k) (i32.const 3)))) (f64.load (i32.add (local.get $r0) (i32.shl (local.get $k) (i32.const 3)))))))))
      (f64.store (i32.add (local.get $z) (i32.shl (local.get $r) (i32.const 3))) (local.get $t))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $tl)))
  )
  (func (export "csrMul") (param $rp i32) (param $ci i32) (param $va i32) (param $n i32) (param $x i32) (param $m i32) (param $y i32)
    (local $i i32) (local $p i32) (local $end i32) (local $rs i32) (local $yo i32) (local $c i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local.set $rs (i32.shl (local.get $m) (i32.const 3)))
    (local.set $i (i32.const 0))
    (block $idone (loop $il
      (br_if $idone (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $p (i32.load (i32.add (local.get $rp) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $end (i32.load offset=4 (i32.add (local.get $rp) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $yo (i32.add (local.get $y) (i32.mul (local.get $i) (local.get $rs))))
      (if (i32.lt_s (i32.add (local.get $p) (i32.const 3)) (local.get $end))
        (then
${csrNonzeros(4)}
          ${rowPairs('c0', `(v128.store ${Y_AT} ${CSR_SUM4})`)}
          (local.set $p (i32.add (local.get $p) (i32.const 4))))
        (else
          ${rowPairs('z', `(v128.store ${Y_AT} (v128.const i64x2 0 0))`)}))
      (block $gdone (loop $gl
        (br_if $gdone (i32.ge_s (i32.add (local.get $p) (i32.const 3)) (local.get $end)))
${csrNonzeros(4)}
        ${rowPairs('c1', `(v128.store ${Y_AT} (f64x2.add (v128.load ${Y_AT}) ${CSR_SUM4}))`)}
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $gl)))
      (block $rdone (loop $rl
        (br_if $rdone (i32.ge_s (local.get $p) (local.get $end)))
${csrNonzeros(1)}
        ${rowPairs('c2', `(v128.store ${Y_AT} (f64x2.add (v128.load ${Y_AT}) (f64x2.mul (local.get $v0) (v128.load (i32.add (local.get $x0) (local.get $c))))))`)}
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $rl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il)))
  )
  (func (export "cgStep") (param $x i32) (param $r i32) (param $z i32) (param $p i32) (param $q i32) (param $dinv i32) (param $alpha i32) (param $n i32) (param $m i32) (param $rr i32) (param $rz i32)
    (local $i i32) (local $c i32) (local $rs i32) (local $o i32) (local $di v128) (local $a v128) (local $rv v128) (local $zv v128)
    ${columnPairs(
      `
      (local.set $di (f64x2.splat (f64.load (i32.add (local.get $dinv) (i32.shl (local.get $i) (i32.const 3))))))`,
      `        (local.set $a (v128.load (i32.add (local.get $alpha) (local.get $c))))
        (v128.store (i32.add (local.get $x) (local.get $o)) (f64x2.add (v128.load (i32.add (local.get $x) (local.get $o))) (f64x2.mul (local.get $a) (v128.load (i32.add (local.get $p) (local.get $o))))))
        (local.set $rv (f64x2.sub (v128.load (i32.add (local.get $r) (local.get $o))) (f64x2.mul (local.get $a) (v128.load (i32.add (local.get $q) (local.get $o))))))
        (v128.store (i32.add (local.get $r) (local.get $o)) (local.get $rv))
        (local.set $zv (f64x2.mul (local.get $rv) (local.get $di)))
        (v128.store (i32.add (local.get $z) (local.get $o)) (local.get $zv))
        (v128.store (i32.add (local.get $rr) (local.get $c)) (f64x2.add (v128.load (i32.add (local.get $rr) (local.get $c))) (f64x2.mul (local.get $rv) (local.get $rv))))
        (v128.store (i32.add (local.get $rz) (local.get $c)) (f64x2.add (v128.load (i32.add (local.get $rz) (local.get $c))) (f64x2.mul (local.get $rv) (local.get $zv))))`,
    )}
  )
  (func (export "cgDirection") (param $p i32) (param $z i32) (param $beta i32) (param $n i32) (param $m i32)
    (local $i i32) (local $c i32) (local $rs i32) (local $o i32)
    ${columnPairs(
      '',
      `        (v128.store (i32.add (local.get $p) (local.get $o)) (f64x2.add (v128.load (i32.add (local.get $z) (local.get $o))) (f64x2.mul (v128.load (i32.add (local.get $beta) (local.get $c))) (v128.load (i32.add (local.get $p) (local.get $o))))))`,
    )}
  )
  (func (export "colDots") (param $a i32) (param $b i32) (param $n i32) (param $m i32) (param $out i32)
    (local $i i32) (local $c i32) (local $rs i32) (local $o i32)
    ${columnPairs(
      '',
      `        (v128.store (i32.add (local.get $out) (local.get $c)) (f64x2.add (v128.load (i32.add (local.get $out) (local.get $c))) (f64x2.mul (v128.load (i32.add (local.get $a) (local.get $o))) (v128.load (i32.add (local.get $b) (local.get $o))))))`,
    )}
  )
)
`;
}
