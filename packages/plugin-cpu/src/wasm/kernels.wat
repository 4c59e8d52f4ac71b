;; WebAssembly SIMD kernels of plugin-cpu (float64, f64x2). Compiled by `npm run wasm` (scripts/build-wasm.mjs, wabt)
;; into kernels-wasm.ts, which is committed; a test recompiles this file and checks the bytes are the same.
;; The caller (src/wasm/kernels.ts) copies operands into this module's memory and handles edges the kernels skip.
;;
;; gram(x, n, d, g): G[j][k] += Σ_r X[r][j]·X[r][k] over the n rows of X (n×d row-major at byte offset x; n a multiple
;; of 4) into G (d×d at byte offset g), for rows j of G in pairs (j, j+1 < d) and k ≥ j: four rows of X update two
;; rows of G per pass, two columns per f64x2 lane pair. It also writes G[j+1][j] (below the diagonal: the caller mirrors
;; the upper triangle) and skips the last row of G when d is odd (its one upper entry is the caller's).
;;
;; xty(x, n, d, y, b): b[k] += Σ_r y[r]·X[r][k] over the n rows of X (byte offset x) with y at byte offset y and b (d
;; float64s) at byte offset b; two columns per f64x2, the last column of an odd d as a scalar.
(module
  (memory (export "memory") 1)
  (func (export "gram") (param $x i32) (param $n i32) (param $d i32) (param $g i32)
    (local $i i32) (local $j i32) (local $k i32) (local $rs i32) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $gj i32) (local $gj1 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $s f64) (local $t f64)
    (local.set $rs (i32.shl (local.get $d) (i32.const 3)))  ;; row stride in bytes
    (local.set $i (i32.const 0))
    (block $rowsdone
      (loop $rows
        (br_if $rowsdone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $r0 (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $rs))))
        (local.set $r1 (i32.add (local.get $r0) (local.get $rs)))
        (local.set $r2 (i32.add (local.get $r1) (local.get $rs)))
        (local.set $r3 (i32.add (local.get $r2) (local.get $rs)))
        (local.set $j (i32.const 0))
        (block $jdone
          (loop $jl
            (br_if $jdone (i32.ge_s (i32.add (local.get $j) (i32.const 1)) (local.get $d)))
            (local.set $a0 (v128.load64_splat (i32.add (local.get $r0) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $a1 (v128.load64_splat (i32.add (local.get $r1) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $a2 (v128.load64_splat (i32.add (local.get $r2) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $a3 (v128.load64_splat (i32.add (local.get $r3) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $b0 (v128.load64_splat (i32.add (local.get $r0) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 3)))))
            (local.set $b1 (v128.load64_splat (i32.add (local.get $r1) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 3)))))
            (local.set $b2 (v128.load64_splat (i32.add (local.get $r2) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 3)))))
            (local.set $b3 (v128.load64_splat (i32.add (local.get $r3) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 3)))))
            (local.set $gj (i32.add (local.get $g) (i32.mul (local.get $j) (local.get $rs))))
            (local.set $gj1 (i32.add (local.get $gj) (local.get $rs)))
            (local.set $k (local.get $j))
            (block $kdone
              (loop $kl
                (br_if $kdone (i32.ge_s (i32.add (local.get $k) (i32.const 1)) (local.get $d)))
                (local.set $x0 (v128.load (i32.add (local.get $r0) (i32.shl (local.get $k) (i32.const 3)))))
                (local.set $x1 (v128.load (i32.add (local.get $r1) (i32.shl (local.get $k) (i32.const 3)))))
                (local.set $x2 (v128.load (i32.add (local.get $r2) (i32.shl (local.get $k) (i32.const 3)))))
                (local.set $x3 (v128.load (i32.add (local.get $r3) (i32.shl (local.get $k) (i32.const 3)))))
                (v128.store (i32.add (local.get $gj) (i32.shl (local.get $k) (i32.const 3)))
                  (f64x2.add (v128.load (i32.add (local.get $gj) (i32.shl (local.get $k) (i32.const 3))))
                    (f64x2.add
                      (f64x2.add (f64x2.mul (local.get $a0) (local.get $x0)) (f64x2.mul (local.get $a1) (local.get $x1)))
                      (f64x2.add (f64x2.mul (local.get $a2) (local.get $x2)) (f64x2.mul (local.get $a3) (local.get $x3))))))
                (v128.store (i32.add (local.get $gj1) (i32.shl (local.get $k) (i32.const 3)))
                  (f64x2.add (v128.load (i32.add (local.get $gj1) (i32.shl (local.get $k) (i32.const 3))))
                    (f64x2.add
                      (f64x2.add (f64x2.mul (local.get $b0) (local.get $x0)) (f64x2.mul (local.get $b1) (local.get $x1)))
                      (f64x2.add (f64x2.mul (local.get $b2) (local.get $x2)) (f64x2.mul (local.get $b3) (local.get $x3))))))
                (local.set $k (i32.add (local.get $k) (i32.const 2)))
                (br $kl)))
            ;; odd tail column k = d-1 (when d - j is odd)
            (if (i32.lt_s (local.get $k) (local.get $d))
              (then
                (f64.store (i32.add (local.get $gj) (i32.shl (local.get $k) (i32.const 3)))
                  (f64.add (f64.load (i32.add (local.get $gj) (i32.shl (local.get $k) (i32.const 3))))
                    (f64.add
                      (f64.add (f64.mul (f64x2.extract_lane 0 (local.get $a0)) (f64.load (i32.add (local.get $r0) (i32.shl (local.get $k) (i32.const 3)))))
                               (f64.mul (f64x2.extract_lane 0 (local.get $a1)) (f64.load (i32.add (local.get $r1) (i32.shl (local.get $k) (i32.const 3))))))
                      (f64.add (f64.mul (f64x2.extract_lane 0 (local.get $a2)) (f64.load (i32.add (local.get $r2) (i32.shl (local.get $k) (i32.const 3)))))
                               (f64.mul (f64x2.extract_lane 0 (local.get $a3)) (f64.load (i32.add (local.get $r3) (i32.shl (local.get $k) (i32.const 3)))))))))
                (f64.store (i32.add (local.get $gj1) (i32.shl (local.get $k) (i32.const 3)))
                  (f64.add (f64.load (i32.add (local.get $gj1) (i32.shl (local.get $k) (i32.const 3))))
                    (f64.add
                      (f64.add (f64.mul (f64x2.extract_lane 0 (local.get $b0)) (f64.load (i32.add (local.get $r0) (i32.shl (local.get $k) (i32.const 3)))))
                               (f64.mul (f64x2.extract_lane 0 (local.get $b1)) (f64.load (i32.add (local.get $r1) (i32.shl (local.get $k) (i32.const 3))))))
                      (f64.add (f64.mul (f64x2.extract_lane 0 (local.get $b2)) (f64.load (i32.add (local.get $r2) (i32.shl (local.get $k) (i32.const 3)))))
                               (f64.mul (f64x2.extract_lane 0 (local.get $b3)) (f64.load (i32.add (local.get $r3) (i32.shl (local.get $k) (i32.const 3)))))))))))
            (local.set $j (i32.add (local.get $j) (i32.const 2)))
            (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
  )
  (func (export "xty") (param $x i32) (param $n i32) (param $d i32) (param $y i32) (param $b i32)
    (local $r i32) (local $k i32) (local $rs i32) (local $row i32) (local $yr v128) (local $bp i32)
    (local.set $rs (i32.shl (local.get $d) (i32.const 3)))
    (local.set $r (i32.const 0))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_s (local.get $r) (local.get $n)))
      (local.set $row (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rs))))
      (local.set $yr (v128.load64_splat (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_s (i32.add (local.get $k) (i32.const 1)) (local.get $d)))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $k) (i32.const 3))))
        (v128.store (local.get $bp)
          (f64x2.add (v128.load (local.get $bp))
            (f64x2.mul (local.get $yr) (v128.load (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 3)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $kl)))
      (if (i32.lt_s (local.get $k) (local.get $d))
        (then
          (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $k) (i32.const 3))))
          (f64.store (local.get $bp)
            (f64.add (f64.load (local.get $bp))
              (f64.mul (f64x2.extract_lane 0 (local.get $yr)) (f64.load (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 3)))))))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl)))
  )
)
