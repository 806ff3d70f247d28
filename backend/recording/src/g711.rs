//! G.711 (ITU-T) mu-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).

pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 { (mantissa << 4) + 8 } else { ((mantissa << 4) + 0x108) << (exponent - 1) };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut value = i32::from(sample);
    let sign = if value < 0 {
        value = -value;
        0x80
    } else {
        0
    };
    value = (value + BIAS).min(32635 + BIAS);
    let exponent = (7 - (value >> 7).leading_zeros().saturating_sub(24).min(7)) as u8;
    let exponent = exponent.min(7);
    let mantissa = ((value >> (exponent + 3)) & 0x0f) as u8;
    !(sign | (exponent << 4) | mantissa)
}

pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample);
    let sign = if value >= 0 { 0x80 } else { 0 };
    if value < 0 {
        value = -value - 1;
    }
    value = value.min(32767);
    let (exponent, mantissa) = if value < 256 {
        (0u8, (value >> 4) as u8)
    } else {
        let exponent = (31 - (value as u32).leading_zeros()) as u8 - 7;
        (exponent, ((value >> (exponent + 3)) & 0x0f) as u8)
    };
    (sign | (exponent << 4) | mantissa) ^ 0x55
}

/// Decodes a payload of the given RTP payload type into `out` (replacing what it held, so one
/// buffer serves every packet of a call); false for codecs we do not record.
pub fn decode(payload_type: u8, payload: &[u8], out: &mut Vec<i16>) -> bool {
    let law: fn(u8) -> i16 = match payload_type {
        0 => ulaw_to_linear,
        8 => alaw_to_linear,
        _ => return false,
    };
    out.clear();
    out.extend(payload.iter().map(|&b| law(b)));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_stay_within_quantisation_error() {
        for sample in (-32000i16..32000).step_by(97) {
            let tolerance = (i32::from(sample).abs() / 16).max(16);
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(sample)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(sample)));
            assert!((u - i32::from(sample)).abs() <= tolerance, "mu-law {sample} -> {u}");
            assert!((a - i32::from(sample)).abs() <= tolerance, "A-law {sample} -> {a}");
        }
    }

    #[test]
    fn known_code_points() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert!(!decode(18, &[1, 2], &mut Vec::new()), "G.729 is not recorded");
    }
}
