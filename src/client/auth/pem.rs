//! What a private key file holds: its PEM blocks by label (RFC 7468), and the one private key
//! among them, or why there is none in a form the assertion can be signed with.
//!
//! A user hands over whatever the dashboard or `openssl` left beside the key: the public key,
//! a certificate, a certificate and its key in one file, a key still encrypted with its
//! passphrase, `openssl ecparam -genkey`'s parameters before the key. Each gets an answer that
//! names what was found (the label, never a byte of the key) and what to give instead.

/// One PEM block: its label, whether a legacy `Proc-Type: 4,ENCRYPTED` header says it is
/// encrypted, and its text from `-----BEGIN` to the end of its `-----END` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block<'a> {
    label: &'a str,
    encrypted: bool,
    text: &'a str,
}

/// What to give: the forms the assertion can be signed with.
pub(super) const WANTED: &str = "give a PKCS#8 or PKCS#1 private key (-----BEGIN PRIVATE KEY----- \
     or -----BEGIN RSA PRIVATE KEY-----, RSA or EC P-256/P-384)";

/// The labels of private keys that need a conversion first, and the command that does it.
const CONVERT: [(&str, &str); 3] = [
    (
        "ENCRYPTED PRIVATE KEY",
        "it is encrypted with a passphrase: decrypt it with `openssl pkcs8 -in KEY.pem -out \
         plain.pem` and give plain.pem",
    ),
    (
        "EC PRIVATE KEY",
        "an EC key in the SEC1 form: convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY.pem \
         -out plain.pem` and give plain.pem",
    ),
    (
        "OPENSSH PRIVATE KEY",
        "an OpenSSH key: convert a copy with `ssh-keygen -p -m PKCS8 -N '' -f COPY` and give \
         the copy",
    ),
];

/// The PEM text of the one private key in `text`, ready for the signer; or why there is
/// none, naming the labels found. A certificate or public key beside the key is left out.
pub(super) fn private_key(text: &str) -> Result<&str, String> {
    let blocks = blocks(text);
    let keys: Vec<&Block<'_>> = blocks
        .iter()
        .filter(|b| b.label.ends_with("PRIVATE KEY"))
        .collect();
    match keys.as_slice() {
        [key] if key.encrypted => Err(format!(
            "the private key ({}) is encrypted with a passphrase: decrypt it with `openssl {} \
             -in KEY.pem -out plain.pem` and give plain.pem",
            key.label,
            if key.label == "EC PRIVATE KEY" {
                "pkcs8 -topk8 -nocrypt"
            } else {
                "rsa"
            }
        )),
        [key] => match CONVERT.iter().find(|(label, _)| *label == key.label) {
            Some((label, how)) => Err(format!("the private key is an {label}: {how}")),
            None if matches!(key.label, "PRIVATE KEY" | "RSA PRIVATE KEY") => Ok(key.text),
            None => Err(format!(
                "the private key is a {}, a form that cannot sign: {WANTED}",
                key.label
            )),
        },
        [] if blocks.is_empty() => Err(format!(
            "the private key is not PEM (no -----BEGIN …----- line): {WANTED}"
        )),
        [] => Err(format!(
            "the private key file holds {}, not a private key: {WANTED}",
            found(&blocks)
        )),
        more => Err(format!(
            "the private key file holds {} private keys ({}): give the one the client ID's key \
             was registered with, alone or beside its certificate",
            more.len(),
            found(&blocks)
        )),
    }
}

/// The labels of `blocks` as a list: `a PUBLIC KEY and a CERTIFICATE`.
fn found(blocks: &[Block<'_>]) -> String {
    let labels: Vec<String> = blocks.iter().map(|b| format!("a {}", b.label)).collect();
    match labels.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Every PEM block of `text`, in order. A label that is not the printable ASCII RFC 7468
/// allows, or one that runs long, is shown as `a block with an unreadable label`: the error
/// quotes labels.
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from = &rest[start..];
        let after = &from["-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let end_line = format!("-----END {label}-----");
        let (block, next) = match from.find(&end_line) {
            Some(end) => from.split_at(end + end_line.len()),
            None => (from, ""),
        };
        let readable = label.len() <= 40
            && label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'-');
        out.push(Block {
            label: if readable {
                label
            } else {
                "block with an unreadable label"
            },
            encrypted: block
                .lines()
                .take_while(|l| !l.trim().is_empty() || l.starts_with("-----"))
                .any(|l| l.trim() == "Proc-Type: 4,ENCRYPTED"),
            text: block,
        });
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEsecretbytes\n-----END PRIVATE KEY-----";
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIDcert\n-----END CERTIFICATE-----";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIBpub\n-----END PUBLIC KEY-----";

    #[test]
    fn the_key_is_taken_out_of_a_bundle_in_any_order() {
        assert_eq!(private_key(KEY), Ok(KEY));
        assert_eq!(private_key(&format!("{CERT}\n{KEY}\n")), Ok(KEY));
        assert_eq!(private_key(&format!("junk\n{KEY}\n{CERT}")), Ok(KEY));
        let params = "-----BEGIN EC PARAMETERS-----\nBggq\n-----END EC PARAMETERS-----";
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----";
        let e = private_key(&format!("{params}\n{sec1}")).unwrap_err();
        assert!(
            e.contains("EC PRIVATE KEY") && e.contains("-topk8 -nocrypt"),
            "{e}"
        );
    }

    #[test]
    fn no_private_key_names_what_was_found_and_what_to_give() {
        let cases = [
            (PUBLIC.to_string(), "holds a PUBLIC KEY, not a private key"),
            (CERT.to_string(), "holds a CERTIFICATE, not a private key"),
            (
                format!("{CERT}\n{PUBLIC}"),
                "holds a CERTIFICATE and a PUBLIC KEY, not",
            ),
            ("MIIEsecretbytes".to_string(), "is not PEM"),
            (
                format!("{KEY}\n{KEY}"),
                "holds 2 private keys (a PRIVATE KEY and a PRIVATE KEY)",
            ),
            (
                "-----BEGIN \x1b[2J PRIVATE KEY-----\nx\n-----END \x1b[2J PRIVATE KEY-----"
                    .to_string(),
                "holds a block with an unreadable label, not",
            ),
        ];
        for (text, says) in cases {
            let e = private_key(&text).unwrap_err();
            assert!(e.contains(says), "{says:?} not in {e}");
            assert!(!e.contains("MII") && !e.contains('\x1b'), "{e}");
        }
        let e = private_key(PUBLIC).unwrap_err();
        assert!(e.contains("-----BEGIN PRIVATE KEY-----"), "{e}");
    }

    #[test]
    fn an_encrypted_key_says_how_to_decrypt_it() {
        let pkcs8 =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFsec\n-----END ENCRYPTED PRIVATE KEY-----";
        let e = private_key(pkcs8).unwrap_err();
        assert!(
            e.contains("openssl pkcs8 -in KEY.pem -out plain.pem"),
            "{e}"
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: \
                      AES-128-CBC,0A1B\n\nMIIEsec\n-----END RSA PRIVATE KEY-----";
        let e = private_key(legacy).unwrap_err();
        assert!(e.contains("openssl rsa -in KEY.pem -out plain.pem"), "{e}");
        assert!(!e.contains("MIIEsec") && !e.contains("0A1B"), "{e}");
    }
}
