//! Go's float formatting (`strconv.FormatFloat`), shared by sizes, template printing and JSON.
//!
//! Owns: the decimal digit extraction and the three Go layouts kasane needs:
//! - `%.Ng` with an explicit precision (docker `go-units` sizes, §3 of `docker-formats.md`);
//! - `%v` of a `float64` (shortest `%g`: exponent form when the exponent is < −4 or ≥ 6, since
//!   Go uses precision 6 for that decision in shortest mode, so `1e6` prints `1e+06`);
//! - `encoding/json` floats (`'f'` unless |x| < 1e-6 or ≥ 1e21, then `'e'` with `e-7` not `e-07`).
//!
//! Digits come from Rust's exact formatter (`{:.800e}` prints the exact binary value, every
//! `f64` has at most 767 significant decimal digits) and are rounded here half-to-even, which
//! is what Go's `strconv` does on the exact value.

/// A finite, non-negative decimal: `0.d1 d2 d3 … × 10^dp`, no trailing zeros; empty = zero.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    digits: Vec<u8>,
    dp: i32,
}

impl Decimal {
    /// The exact decimal expansion of `|x|` (x finite).
    fn exact(x: f64) -> Self {
        Self::parse_sci(&format!("{:.800e}", x.abs()))
    }

    /// The shortest decimal that round-trips to `|x|` (x finite).
    fn shortest(x: f64) -> Self {
        Self::parse_sci(&format!("{:e}", x.abs()))
    }

    /// Parses Rust's `{:e}` output (`d.ddde[-]N`).
    fn parse_sci(s: &str) -> Self {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut digits: Vec<u8> = mantissa
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Decimal { digits, dp: 0 };
        }
        // Rust never prints leading zeros in the mantissa of a non-zero value.
        Decimal {
            digits,
            dp: exp + 1,
        }
    }

    /// Rounds to `n` significant digits, ties to even (Go `strconv` on the exact value).
    fn round(&mut self, n: usize) {
        if self.digits.len() <= n {
            return;
        }
        let next = self.digits[n];
        let rest_nonzero = self.digits[n + 1..].iter().any(|&d| d != 0);
        let up = match next {
            6..=9 => true,
            5 => rest_nonzero || (n > 0 && self.digits[n - 1] % 2 == 1),
            _ => false,
        };
        self.digits.truncate(n);
        if up {
            let mut i = n;
            loop {
                if i == 0 {
                    // Carry out of the first digit: 999 → 1000.
                    self.digits.insert(0, 1);
                    self.dp += 1;
                    break;
                }
                i -= 1;
                if self.digits[i] == 9 {
                    self.digits[i] = 0;
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
        while self.digits.last() == Some(&0) {
            self.digits.pop();
        }
    }

    fn digit(&self, i: i32) -> char {
        if i < 0 {
            return '0';
        }
        match self.digits.get(i as usize) {
            Some(d) => char::from(b'0' + d),
            None => '0',
        }
    }

    /// Go `fmtE`: `d.ddd` with `prec` fraction digits, then `e±XX`.
    fn fmt_e(&self, out: &mut String, prec: i32) {
        out.push(self.digit(0));
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                out.push(self.digit(i));
            }
        }
        let exp = if self.digits.is_empty() {
            0
        } else {
            self.dp - 1
        };
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let exp = exp.unsigned_abs();
        if exp < 10 {
            out.push('0');
        }
        out.push_str(&exp.to_string());
    }

    /// Go `fmtF`: integer part, then `prec` fraction digits.
    fn fmt_f(&self, out: &mut String, prec: i32) {
        if self.dp > 0 {
            for i in 0..self.dp {
                out.push(self.digit(i));
            }
        } else {
            out.push('0');
        }
        if prec > 0 {
            out.push('.');
            for i in 0..prec {
                out.push(self.digit(self.dp + i));
            }
        }
    }

    /// Go's `%g` body (`strconv` `formatDigits`, case `'g'`).
    fn fmt_g(&self, out: &mut String, prec: i32, shortest: bool) {
        let nd = self.digits.len() as i32;
        let mut eprec = prec;
        if eprec > nd && nd >= self.dp {
            eprec = nd;
        }
        // "if precision was the shortest possible, use precision 6 for this decision"
        if shortest {
            eprec = 6;
        }
        let exp = self.dp - 1;
        if !self.digits.is_empty() && (exp < -4 || exp >= eprec) {
            let p = prec.min(nd);
            self.fmt_e(out, p - 1);
        } else {
            let p = if prec > self.dp { nd } else { prec };
            self.fmt_f(out, (p - self.dp).max(0));
        }
    }
}

/// Handles NaN/±Inf the way Go's `%g`/`%v` print them; returns `false` for finite values.
fn push_special(out: &mut String, x: f64) -> bool {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        return false;
    }
    true
}

/// Go `fmt.Sprintf("%.<prec>g", x)`.
pub(crate) fn format_g(x: f64, prec: usize) -> String {
    let mut out = String::new();
    if push_special(&mut out, x) {
        return out;
    }
    if x.is_sign_negative() && x != 0.0 {
        out.push('-');
    }
    let prec = prec.max(1);
    let mut d = Decimal::exact(x);
    d.round(prec);
    d.fmt_g(&mut out, prec as i32, false);
    out
}

/// Go `fmt.Sprint(x)` for a `float64` (`%v` = shortest `%g`).
pub(crate) fn format_v(x: f64) -> String {
    let mut out = String::new();
    if push_special(&mut out, x) {
        return out;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let d = Decimal::shortest(x);
    let nd = d.digits.len() as i32;
    d.fmt_g(&mut out, nd, true);
    out
}

/// Go `encoding/json` for a `float64`; `None` for NaN/±Inf, which Go refuses to encode.
pub(crate) fn format_json(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    let d = Decimal::shortest(x);
    let abs = x.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let nd = d.digits.len() as i32;
        d.fmt_e(&mut out, nd - 1);
        // encoding/json: "clean up e-09 to e-9"
        let n = out.len();
        if n >= 4 && &out.as_bytes()[n - 4..n - 1] == b"e-0" {
            out.remove(n - 2);
        }
    } else {
        let nd = d.digits.len() as i32;
        d.fmt_f(&mut out, (nd - d.dp).max(0));
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    macro_rules! cases {
        ($f:ident: $($name:ident: $input:expr => $want:expr;)*) => {
            $(#[test] fn $name() { assert_eq!($f($input), $want); })*
        };
    }

    fn g3(x: f64) -> String {
        format_g(x, 3)
    }
    fn g4(x: f64) -> String {
        format_g(x, 4)
    }
    fn json(x: f64) -> String {
        format_json(x).unwrap_or_else(|| "ERR".into())
    }

    cases! { g3:
        g3_zero: 0.0 => "0";
        g3_int: 187.0 => "187";
        g3_exp_threshold: 1000.0 => "1e+03";
        g3_tie_to_even_up: 999.5 => "1e+03";
        g3_tie_to_even_down: 1.125 => "1.12";
        g3_tie_to_even_up2: 1.375 => "1.38";
        g3_round_half_even_exact: 2.5 => "2.5";
        g3_frac: 1.024 => "1.02";
        g3_small: 0.0001234 => "0.000123";
        g3_tiny: 0.00001234 => "1.23e-05";
        g3_neg: -1.0 => "-1";
        g3_neg_big: -5000.0 => "-5e+03";
        g3_huge: 1e100 => "1e+100";
        g3_nan: f64::NAN => "NaN";
        g3_inf: f64::INFINITY => "+Inf";
        g3_ten: 10.0 => "10";
        g3_carry: 9.996 => "10";
    }

    cases! { g4:
        g4_1000: 1000.0 => "1000";
        g4_999_999: 999.999 => "1000";
        g4_9995: 999.5 => "999.5";
        g4_tie_even: 1.0625 => "1.062";
        g4_tie_odd: 1.1875 => "1.188";
    }

    cases! { format_v:
        v_int: 1.0 => "1";
        v_half: 1.5 => "1.5";
        v_1e5: 100000.0 => "100000";
        v_1e6: 1e6 => "1e+06";
        v_size: 1982307.0 => "1.982307e+06";
        v_small: 0.0001 => "0.0001";
        v_smaller: 0.00001 => "1e-05";
        v_neg_zero: -0.0 => "-0";
        v_third: 1.0 / 3.0 => "0.3333333333333333";
    }

    cases! { json:
        j_int: 1.0 => "1";
        j_frac: 1.5 => "1.5";
        j_1e20: 1e20 => "100000000000000000000";
        j_1e21: 1e21 => "1e+21";
        j_small: 1e-7 => "1e-7";
        j_small2: 1.5e-7 => "1.5e-7";
        j_edge: 1e-6 => "0.000001";
        j_big_exp: 1e-100 => "1e-100";
        j_nan: f64::NAN => "ERR";
    }
}
