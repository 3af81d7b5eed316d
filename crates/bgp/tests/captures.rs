//! Real router captures in `tests/data/` (format in `tests/data/README.md`).

mod common;

use std::path::Path;

use ironlb_bgp::packet::*;

/// One capture file, parsed.
#[derive(Debug)]
struct Capture {
    router: String,
    context: CodecContext,
    expect: String,
    bytes: Vec<u8>,
}

fn parse(text: &str) -> Result<Capture, String> {
    let mut lines = text.lines();
    let router = lines
        .next()
        .and_then(|line| line.strip_prefix('#'))
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .ok_or("the first line must be a comment naming router, version and capture method")?;
    let mut context = CodecContext::default();
    let mut expect = "accepted".to_owned();
    let mut hex = String::new();
    for line in lines {
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if let Some(words) = comment.strip_prefix("context:") {
                for word in words.split_whitespace() {
                    match word {
                        "four_octet_as" => context.four_octet_as = true,
                        "extended_messages" => context.extended_messages = true,
                        "internal" => context.peer_type = PeerType::Internal,
                        other => return Err(format!("unknown context word {other:?}")),
                    }
                }
            } else if let Some(value) = comment.strip_prefix("expect:") {
                expect = value.trim().to_owned();
            }
        } else {
            hex.push_str(line);
            hex.push('\n');
        }
    }
    Ok(Capture {
        router,
        context,
        expect,
        bytes: common::hex(&hex),
    })
}

fn check(name: &str, capture: &Capture) -> Result<(), String> {
    let context = &capture.context;
    match frame_length(&capture.bytes, context) {
        Some(Ok(length)) if length == capture.bytes.len() => {}
        Some(Ok(length)) => {
            return Err(format!(
                "Length field says {length}, the file holds {}",
                capture.bytes.len()
            ));
        }
        Some(Err(error)) if capture.expect.starts_with("error") => {
            return check_error(name, capture, &error);
        }
        Some(Err(error)) => return Err(format!("header refused: {error}")),
        None => return Err("shorter than a header".to_owned()),
    }
    let received = match Received::decode(&capture.bytes, context) {
        Ok(received) => received,
        Err(error) => return check_error(name, capture, &error),
    };
    let verdict = match &received {
        Received::Update(UpdateOutcome::TreatAsWithdraw { .. }) => "treat-as-withdraw",
        Received::Update(UpdateOutcome::Accepted { discarded, .. }) if !discarded.is_empty() => {
            "attribute-discard"
        }
        _ => "accepted",
    };
    if verdict != capture.expect {
        return Err(format!(
            "expected {}, got {verdict}: {received:?}",
            capture.expect
        ));
    }
    if verdict == "accepted" {
        let message =
            Message::decode(&capture.bytes, context).map_err(|error| error.to_string())?;
        let encoded = message.encode(context);
        let again = Message::decode(&encoded, context).map_err(|error| error.to_string())?;
        if again != message {
            return Err(format!(
                "re-encoding changed the message: {message:?} became {again:?}"
            ));
        }
        if encoded != capture.bytes {
            // Not an error (speakers differ in Extended Length use and parameter grouping), but
            // worth knowing.
            println!("{name}: re-encoded differently from {}", capture.router);
        }
    }
    Ok(())
}

fn check_error(name: &str, capture: &Capture, error: &DecodeError) -> Result<(), String> {
    let notification = error.notification();
    let got = format!(
        "error {}/{}",
        notification.code.code(),
        notification.subcode
    );
    if got == capture.expect {
        println!("{name}: refused as expected ({error})");
        Ok(())
    } else {
        Err(format!("expected {}, got {got}: {error}", capture.expect))
    }
}

#[test]
fn every_capture_decodes_as_expected() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut failures = Vec::new();
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&directory)
        .expect("tests/data exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "hex"))
        .collect();
    entries.sort();
    for path in entries {
        count += 1;
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("readable capture");
        let result = parse(&text).and_then(|capture| check(&name, &capture));
        if let Err(why) = result {
            failures.push(format!("{name}: {why}"));
        }
    }
    println!("{count} capture(s) checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_capture_format_reads_as_documented() {
    let capture = parse(
        "# router: hand-written sample for this test, not a capture\n\
         # context: four_octet_as internal\n\
         # expect: error 1/3\n\
         ffffffffffffffffffffffffffffffff\n0013 09\n",
    )
    .unwrap();
    assert!(capture.context.four_octet_as);
    assert_eq!(capture.context.peer_type, PeerType::Internal);
    check("sample", &capture).unwrap();
    let keepalive = parse("# sample\nffffffffffffffffffffffffffffffff 0013 04").unwrap();
    check("sample", &keepalive).unwrap();
    assert!(parse("ffffffffffffffffffffffffffffffff 0013 04").is_err());
}
