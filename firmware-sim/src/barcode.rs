//! Barcodes a receiving scanner reads off a supplier's delivery: GS1-128 labels with GTIN,
//! expiry date, lot and net weight (`(01)<gtin14>(17)YYMMDD(10)LOT(3103)nnnnnn`, the
//! parenthesised form or the raw form with FNC1 as ASCII GS), and plain EAN-13 retail
//! packs. Check digits come from `devices::gs1`, so every code the simulator prints is one
//! the hub's decoder accepts. Pure: the delivery date is passed in.

use chrono::{Duration, NaiveDate};
use devices::Symbology;
use devices::gs1::{GS, gtin_check_digit};

use crate::models::Rng;

/// One product a supplier delivers.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    pub name: &'static str,
    /// GTIN without its check digit: 13 digits for a GTIN-14 (GS1-128 label), 12 for an
    /// EAN-13 retail pack.
    pub gtin_body: &'static str,
    /// Lot prefix on the supplier's labels.
    pub lot_prefix: &'static str,
    pub shelf_life_days: i64,
    /// Typical net weight in grams; `None` for a fixed-weight retail pack without AI 3103.
    pub grams: Option<u32>,
}

/// What a Jakarta kitchen receives on a weekday afternoon. Bodies use the Indonesian GS1
/// prefix 899 (with indicator digit 1 for cases).
pub const DELIVERY: &[Product] = &[
    Product {
        name: "Beef brisket (daging sandung lamur)",
        gtin_body: "1899123400011",
        lot_prefix: "SL",
        shelf_life_days: 5,
        grams: Some(5_000),
    },
    Product {
        name: "Chicken thigh fillet",
        gtin_body: "1899123400028",
        lot_prefix: "AY",
        shelf_life_days: 4,
        grams: Some(4_000),
    },
    Product {
        name: "Tiger prawns, frozen",
        gtin_body: "1899123400035",
        lot_prefix: "UD",
        shelf_life_days: 180,
        grams: Some(2_000),
    },
    Product {
        name: "Coconut milk (santan), chilled",
        gtin_body: "1899123400042",
        lot_prefix: "SN",
        shelf_life_days: 7,
        grams: Some(1_000),
    },
    Product {
        name: "Shallots (bawang merah)",
        gtin_body: "1899123400059",
        lot_prefix: "BM",
        shelf_life_days: 21,
        grams: Some(3_000),
    },
    Product {
        name: "Tempeh",
        gtin_body: "1899123400066",
        lot_prefix: "TP",
        shelf_life_days: 3,
        grams: Some(2_500),
    },
    Product {
        name: "Kecap manis 620 ml",
        gtin_body: "899123400073",
        lot_prefix: "",
        shelf_life_days: 365,
        grams: None,
    },
    Product {
        name: "Sambal oelek 500 g",
        gtin_body: "899123400080",
        lot_prefix: "",
        shelf_life_days: 365,
        grams: None,
    },
];

/// A full GTIN: the body followed by its check digit.
pub fn with_check_digit(body: &str) -> Option<String> {
    gtin_check_digit(body).map(|digit| format!("{body}{digit}"))
}

/// How the scanner transmits a GS1 label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Human-readable `(01)...(17)...`.
    Parenthesised,
    /// `]C1` symbology identifier, FNC1 as ASCII GS after variable-length fields.
    Raw,
}

/// A scan as the scanner sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCode {
    pub code: String,
    pub symbology: Symbology,
}

/// The label of one case of `product` delivered on `delivered`, with a lot number and a
/// weight that varies a little from case to case.
pub fn label(product: &Product, delivered: NaiveDate, form: Form, rng: &mut Rng) -> ScanCode {
    let Some(gtin) = with_check_digit(product.gtin_body) else {
        unreachable!("catalogue GTIN bodies are digits")
    };
    let Some(nominal) = product.grams else {
        return ScanCode {
            code: gtin,
            symbology: Symbology::Ean13,
        };
    };
    let expiry = (delivered + Duration::days(product.shelf_life_days)).format("%y%m%d");
    let lot = format!(
        "{}{}-{:03}",
        product.lot_prefix,
        delivered.format("%y%m%d"),
        rng.next_u64() % 1000
    );
    // Catch-weight cases: +-4 % around nominal, in grams (AI 3103 is kg with 3 decimals).
    let grams = (f64::from(nominal) * rng.between(0.96, 1.04)).round() as u32;
    let code = match form {
        Form::Parenthesised => format!("(01){gtin}(17){expiry}(10){lot}(3103){grams:06}"),
        Form::Raw => format!("]C101{gtin}17{expiry}10{lot}{GS}3103{grams:06}"),
    };
    ScanCode {
        code,
        symbology: Symbology::Gs1_128,
    }
}

/// Every case of a delivery in the order the receiving clerk scans them: `cases` labels
/// drawn from the catalogue, one in three in the raw form as many scanners send it.
pub fn delivery(delivered: NaiveDate, cases: usize, rng: &mut Rng) -> Vec<ScanCode> {
    (0..cases)
        .map(|i| {
            let product = &DELIVERY[i % DELIVERY.len()];
            let form = if i % 3 == 2 {
                Form::Raw
            } else {
                Form::Parenthesised
            };
            label(product, delivered, form, rng)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{ScanKind, decode_scan};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
    }

    #[test]
    fn every_catalogue_gtin_gets_a_valid_check_digit() {
        for product in DELIVERY {
            let gtin = with_check_digit(product.gtin_body).unwrap();
            let expected = if product.grams.is_some() { 14 } else { 13 };
            assert_eq!(gtin.len(), expected, "{}", product.name);
            let scan = decode_scan(&format!("(01){gtin:0>14}"), None).unwrap();
            assert_eq!(scan.gtin.unwrap(), format!("{gtin:0>14}"));
        }
    }

    #[test]
    fn a_parenthesised_label_decodes_to_gtin_expiry_lot_and_weight() {
        let mut rng = Rng::new(1);
        let label = label(&DELIVERY[0], day(), Form::Parenthesised, &mut rng);
        assert_eq!(label.symbology, Symbology::Gs1_128);
        assert!(label.code.starts_with("(01)18991234000"), "{}", label.code);
        let scan = decode_scan(&label.code, Some(label.symbology)).unwrap();
        assert_eq!(scan.kind, ScanKind::Gs1);
        assert_eq!(scan.expiry, NaiveDate::from_ymd_opt(2025, 6, 6));
        assert!(scan.lot.unwrap().starts_with("SL250601-"));
        let grams = scan.net_weight_grams.unwrap();
        assert!((4_800..=5_200).contains(&grams), "{grams} g");
    }

    #[test]
    fn the_raw_form_carries_the_same_fields() {
        let parenthesised = label(&DELIVERY[1], day(), Form::Parenthesised, &mut Rng::new(9));
        let raw = label(&DELIVERY[1], day(), Form::Raw, &mut Rng::new(9));
        assert!(raw.code.starts_with("]C101") && raw.code.contains(GS));
        let a = decode_scan(&parenthesised.code, None).unwrap();
        let b = decode_scan(&raw.code, None).unwrap();
        assert_eq!((a.gtin, a.expiry, a.lot), (b.gtin, b.expiry, b.lot));
        assert_eq!(a.net_weight_grams, b.net_weight_grams);
    }

    #[test]
    fn a_retail_pack_is_a_plain_ean13() {
        let label = label(&DELIVERY[6], day(), Form::Parenthesised, &mut Rng::new(1));
        assert_eq!(label.symbology, Symbology::Ean13);
        let scan = decode_scan(&label.code, Some(Symbology::Ean13)).unwrap();
        assert_eq!(scan.kind, ScanKind::Ean13);
    }

    #[test]
    fn a_whole_delivery_decodes_cleanly_in_both_forms() {
        let mut rng = Rng::new(3);
        let codes = delivery(day(), 20, &mut rng);
        assert_eq!(codes.len(), 20);
        assert!(codes.iter().any(|c| c.code.starts_with("]C1")));
        assert!(codes.iter().any(|c| c.code.starts_with("(01)")));
        for code in &codes {
            decode_scan(&code.code, Some(code.symbology))
                .unwrap_or_else(|e| panic!("{:?}: {e}", code.code));
        }
    }

    #[test]
    fn a_label_across_new_year_expires_next_year() {
        let eve = NaiveDate::from_ymd_opt(2025, 12, 30).unwrap();
        let label = label(&DELIVERY[0], eve, Form::Parenthesised, &mut Rng::new(1));
        let scan = decode_scan(&label.code, None).unwrap();
        assert_eq!(scan.expiry, NaiveDate::from_ymd_opt(2026, 1, 4));
    }
}
