//! Phrases that mark a short block as page furniture whatever its markup: calls to subscribe,
//! follow, share, comment or donate, copyright and licence lines, photo credits, affiliate and
//! advertising notices, "related"/"read more" lead-ins, in the languages most pages are
//! written in (the kind of lists jusText, boilerpipe and trafilatura keep).
//!
//! Long paragraphs are never judged by their words: an article about newsletters is content.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Phrases that condemn a short block wherever they stand in it. Lower case; each must start
/// at a word boundary of the block text.
const ANYWHERE: &[&str] = &[
    // English
    "subscribe",
    "subscribed",
    "subscriber",
    "subscribers",
    "subscribing",
    "subscription",
    "newsletter",
    "sign up",
    "sign me up",
    "signing up",
    "follow us",
    "follow me on",
    "like us on",
    "find us on",
    "join us on",
    "connect with us",
    "all rights reserved",
    "cookie",
    "cookies",
    "learn more",
    "last modified",
    "last updated",
    "for the latest news",
    "for the latest stories",
    "find out more",
    "privacy policy",
    "terms of use",
    "terms of service",
    "share this",
    "share on",
    "click here",
    "read more",
    "read the full",
    "continue reading",
    "related articles",
    "related posts",
    "related stories",
    "more stories",
    "you may also like",
    "you might also like",
    "recommended for you",
    "advertisement",
    "sponsored content",
    "affiliate",
    "affiliate links",
    "earn a commission",
    "we may earn",
    "log in",
    "sign in to",
    "download our app",
    "download the app",
    "was this article helpful",
    "was this helpful",
    "was this page helpful",
    "leave a comment",
    "leave a reply",
    "post a comment",
    "view comments",
    "comments are closed",
    "photo credit",
    "image credit",
    "getty images",
    "shutterstock",
    "istock",
    "support our",
    "become a member",
    "opinions expressed",
    "letter to the editor",
    "loading...",
    "see also",
    "also read",
    "don't miss",
    "trending now",
    "paid content",
    "promoted content",
    "min read",
    "get the latest",
    "straight to your inbox",
    "rely on your support",
    "support local journalism",
    "support independent journalism",
    "discover more",
    "next article",
    "previous article",
    "about the author",
    "permalink",
    "©",
    "(photo:",
    "creative commons",
    "licensed under",
    "cc by",
    "cc-by",
    "suggested citation",
    "cite this article",
    "we need your help",
    "google play",
    "app store",
    "enable notifications",
    // German
    "abonnieren",
    "abonniere",
    "abonnement",
    "jetzt anmelden",
    "registrieren",
    "eingeloggt",
    "einloggen",
    "folgen sie uns",
    "folge uns",
    "folgt uns",
    "artikel teilen",
    "beitrag teilen",
    "seite teilen",
    "mehr zum thema",
    "weitere artikel",
    "weitere beiträge",
    "ähnliche beiträge",
    "ähnliche artikel",
    "auch interessieren",
    "auch interessant",
    "weiterlesen",
    "mehr lesen",
    "lesen sie auch",
    "siehe auch",
    "auch lesenswert",
    "jetzt teilen",
    "lies auch",
    "alle rechte vorbehalten",
    "datenschutz",
    "impressum",
    "bildquelle",
    "titelbild",
    "beitragsbild",
    "kommentar schreiben",
    "jetzt spenden",
    "unterstützen sie",
    "unterstütze",
    "hilfreich?",
    "nützlich?",
    "empfehlungen",
    "lesezeit",
    "affiliate-link",
    "provision",
    "bild anzeigen",
    "externer inhalt",
    "ohne gewähr",
    "weitere themen",
    "mehr themen",
    "lust auf mehr",
    "mehr erfahren",
    "zuletzt aktualisiert",
    "findest du hier",
    "finden sie hier",
    "in unserem beitrag",
    "zitiervorschlag",
    "benachrichtigung aktivieren",
    "push-mitteilungen",
    "weitere news",
    "weitere nachrichten",
    "weitere meldungen",
    "top themen",
    "nächster artikel",
    "nächsten artikel",
    "vorheriger artikel",
    "über den autor",
    "über die autorin",
    "verschlagwortet",
    "permanentlink",
    "sind online",
    "empfiehl",
    "weiterempfehlen",
    "(foto:",
    "(bild:",
    "nicht barrierefrei",
    "tel.:",
    "telefon:",
    "fax:",
    "kb)",
    "mb)",
    // French
    "abonnez-vous",
    "s'abonner",
    "inscrivez-vous",
    "suivez-nous",
    "partagez",
    "lire aussi",
    "à lire aussi",
    "lire la suite",
    "lire également",
    "en savoir plus",
    "voir aussi",
    "vous aimerez",
    "articles similaires",
    "sur le même sujet",
    "droits réservés",
    "n'engagent que",
    "crédit photo",
    "crédits photo",
    "crédits photos",
    "liste de diffusion",
    "lettre d'information",
    "infolettre",
    "à propos de l'auteur",
    // Spanish
    "suscríbete",
    "suscribirse",
    "suscripción",
    "suscríbase",
    "síguenos",
    "siguenos",
    "lee también",
    "lea también",
    "ver también",
    "más información",
    "vea también",
    "leer más",
    "te puede interesar",
    "notas relacionadas",
    "noticias relacionadas",
    "artículos relacionados",
    "derechos reservados",
    "únete",
    "hazte miembro",
    "canal de youtube",
    "canal de telegram",
    "sobre el autor",
    // Italian
    "iscriviti",
    "abbonati",
    "seguici",
    "leggi anche",
    "potrebbe interessarti",
    "articoli correlati",
    "diritti riservati",
    // Dutch
    "nieuwsbrief",
    "volg ons",
    "lees ook",
    "lees meer",
    "rechten voorbehouden",
    // Portuguese
    "assine",
    "inscreva-se",
    "siga-nos",
    "leia também",
    "veja também",
    "leia mais",
    "direitos reservados",
    // Polish
    "subskrybuj",
    "zapisz się",
    "obserwuj nas",
    "czytaj także",
    "czytaj też",
    "czytaj więcej",
    "zobacz też",
    "zobacz także",
    "prawa zastrzeżone",
    // Russian
    "подпишитесь",
    "подписывайтесь",
    "подписаться",
    "рассылка",
    "рассылку",
    "читайте также",
    "читать далее",
    "права защищены",
    // Scandinavian
    "prenumerera",
    "nyhetsbrev",
    "nyhedsbrev",
    "följ oss",
    "følg os",
    "følg oss",
    "läs också",
    "læs også",
    "les også",
    "läs mer",
    "læs mere",
    "les mer",
    "alla rättigheter",
    "alle rettigheder",
    "alle rettigheter",
    // Czech, Slovak, Hungarian, Romanian, Turkish
    "odebírat",
    "sledujte nás",
    "čtěte také",
    "přečtěte si také",
    "práva vyhrazena",
    "hírlevél",
    "kövess minket",
    "jog fenntartva",
    "abonează-te",
    "urmărește-ne",
    "citește și",
    "drepturile rezervate",
    "abone ol",
    "bizi takip edin",
    "devamını oku",
    "hakları saklıdır",
    // Ukrainian, Greek, Arabic, Indonesian
    "підпишіться",
    "читайте також",
    "права захищені",
    "διαβάστε επίσης",
    "ακολουθήστε μας",
    "اقرأ أيضا",
    "جميع الحقوق محفوظة",
    "تابعونا",
    "baca juga",
    "ikuti kami",
    "hak cipta dilindungi",
    // Chinese, Japanese, Korean
    "続きを読む",
    "無断転載",
    "무단전재",
    "관련기사",
    "공유하기",
    "版权所有",
    "版權所有",
    "关注我们",
    "订阅",
    "分享到",
    "相关文章",
    "相關文章",
    "相关阅读",
    "阅读更多",
    "免责声明",
    "関連記事",
    "購読",
];

/// Stems that German and Dutch glue into compounds (`Musiknewsletter`, `Leserservice`): they
/// count inside a word too.
const COMPOUND: &[&str] = &["newsletter", "nieuwsbrief"];

/// Words that are furniture when a block opens with them ("Anzeige", "Foto: ...") or is little
/// more than them; inside a sentence they are ordinary words ("Anzeige erstattet").
const OPENING: &[&str] = &[
    "advertisement",
    "anzeige",
    "werbung",
    "publicité",
    "publicidad",
    "pubblicità",
    "reklama",
    "реклама",
    "广告",
    "share",
    "teilen",
    "partager",
    "compartir",
    "condividi",
    "udostępnij",
    "paylaş",
    "reklam",
    "annons",
    "annonse",
    "поделиться",
    "print",
    "drucken",
    "imprimer",
    "kontakt",
    "contact",
    "pressekontakt",
    "pressesprecher",
    "ansprechpartner",
    "ansprechpartnerin",
    "weitere informationen",
    "further information",
    "alle artikel",
    "entdecke",
    "entdecken sie",
    "vergrößern",
    "enlarge",
    "abbildung",
    "ausblenden",
    "einblenden",
    "quellen:",
    "quellenangaben",
    "originalpublikation",
    "release date",
    "über uns",
    "about us",
    "unsere partner",
    "our partners",
    "upcoming events",
    "kommende events",
    "kommende veranstaltungen",
    "nächste termine",
    "über diese reihe",
    "about this series",
    "weiter zu",
    "photo:",
    "photos:",
    "image:",
    "credit:",
    "credits:",
    "foto:",
    "fotos:",
    "bild:",
    "quelle:",
    "source:",
    "fuente:",
    "(c)",
    "copyright",
    "comments",
    "kommentare",
    "commentaires",
    "comentarios",
    "donate",
    "spenden",
    "tags:",
    "schlagworte",
    "schlagwörter",
    "kategorie",
    "category:",
    "categories:",
    "posted in",
    "filed under",
    "veröffentlicht am",
    "aktualisiert am",
    "updated:",
    "published:",
];

/// Weighted length below which a block that opens with a date is a dateline.
const DATELINE: u32 = 80;

/// Month names, cut to the stems that begin them in the languages of [`ANYWHERE`].
const MONTHS: &[&str] = &[
    "jan", "feb", "fév", "fev", "mär", "mar", "mrt", "apr", "avr", "abr", "mai", "may", "maj",
    "mei", "mag", "jun", "juin", "giu", "jul", "juil", "lug", "aug", "aoû", "ago", "sep", "set",
    "okt", "oct", "ott", "out", "nov", "dez", "dec", "déc", "dic", "ene", "gen", "sty", "lut",
    "kwi", "cze", "lip", "sie", "wrz", "paź", "lis", "gru",
];

/// Consumes a run of ASCII digits, returning how many there were.
fn digits(s: &mut &str) -> usize {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    *s = &s[n..];
    n
}

fn eat(s: &mut &str, prefix: &str) -> bool {
    match s.strip_prefix(prefix) {
        Some(rest) => {
            *s = rest;
            true
        }
        None => false,
    }
}

fn spaces(s: &mut &str) -> usize {
    let rest = s.trim_start();
    let n = s.len() - rest.len();
    *s = rest;
    n
}

/// Consumes a month name (`März`, `sept.`, `diciembre`).
fn month(s: &mut &str) -> bool {
    let word: &str = &s[..s.find(|c: char| !c.is_alphabetic()).unwrap_or(s.len())];
    let n = word.chars().count();
    if !(3..=10).contains(&n) || !MONTHS.iter().any(|m| word.starts_with(m)) {
        return false;
    }
    *s = &s[word.len()..];
    eat(s, ".");
    true
}

/// Whether lower-case `text` opens with a calendar date: `12.03.2021`, `2021-03-12`,
/// `12. März 2021`, `March 12, 2021`, `12 de marzo de 2021`.
fn opens_with_date(text: &str) -> bool {
    let mut s = text.trim_start_matches(|c: char| !c.is_alphanumeric());
    let s = &mut s;
    let first = {
        let mut t = *s;
        let n = digits(&mut t);
        (n, t)
    };
    match first {
        (4, rest) if rest.starts_with('-') => {
            *s = &rest[1..];
            digits(s) == 2 && eat(s, "-") && digits(s) == 2
        }
        (1 | 2, rest) => {
            *s = rest;
            if eat(s, ".") || eat(s, "/") {
                spaces(s);
                if (1..=2).contains(&digits(s)) {
                    return (eat(s, ".") || eat(s, "/")) && {
                        spaces(s);
                        (2..=4).contains(&digits(s))
                    };
                }
            }
            spaces(s);
            if eat(s, "de ") {
                return month(s) && spaces(s) > 0 && eat(s, "de ") && digits(s) == 4;
            }
            month(s) && spaces(s) > 0 && digits(s) == 4
        }
        (0, _) => {
            month(s) && spaces(s) > 0 && (1..=2).contains(&digits(s)) && {
                eat(s, ",");
                spaces(s) > 0 && digits(s) == 4
            }
        }
        _ => false,
    }
}

/// Whether the whole block is a bare domain name (`example.com`): a site's signature line.
fn is_site_name(text: &str) -> bool {
    const TLDS: &[&str] = &[
        "com", "net", "org", "info", "de", "at", "ch", "fr", "es", "it", "nl", "pl", "uk", "eu",
        "io",
    ];
    let t = text.trim_matches(|c: char| !c.is_alphanumeric());
    !t.contains(char::is_whitespace)
        && !t.contains('/')
        && t.rsplit_once('.')
            .is_some_and(|(name, tld)| name.len() >= 2 && TLDS.contains(&tld))
}

/// Weighted length below which a block is judged by its words: longer text is prose.
const SHORT: u32 = 200;

/// Weighted length below which a block is judged by [`OPENING`] wherever the word stands.
const TINY: u32 = 40;

fn is_ideograph(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Whether a phrase ending at byte `end` of `text` ends a word there (a phrase that ends in
/// punctuation ends wherever it ends).
fn ends_word(text: &str, phrase: &str, end: usize) -> bool {
    !phrase.ends_with(char::is_alphanumeric)
        || text[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric())
}

/// Phrases by their first character, each with whether it counts only in tiny blocks; the
/// ideographic ones apart, since they are matched anywhere.
struct Index {
    by_first: HashMap<char, Vec<(&'static str, bool)>>,
    ideographic: Vec<&'static str>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_first: HashMap<char, Vec<(&'static str, bool)>> = HashMap::new();
        let mut ideographic = Vec::new();
        let all = ANYWHERE
            .iter()
            .map(|&p| (p, false))
            .chain(OPENING.iter().map(|&p| (p, true)));
        for (p, tiny) in all {
            let Some(first) = p.chars().next() else {
                continue;
            };
            if is_ideograph(first) {
                if !tiny {
                    ideographic.push(p);
                }
            } else {
                by_first.entry(first).or_default().push((p, tiny));
            }
        }
        Index {
            by_first,
            ideographic,
        }
    })
}

/// Whether a block of `chars` weighted characters reading `text` is page furniture by its
/// words alone.
pub fn is_furniture(text: &str, chars: u32) -> bool {
    chars < SHORT && judged(text, chars)
}

/// Weighted length below which a block at the very end of the main text is judged by its
/// words: the closing notes of an article (a copyright line, a call to follow or subscribe, a
/// note on where it first appeared) run longer than furniture elsewhere.
const TAIL: u32 = 2 * SHORT;

/// Whether a block that closes the main text is page furniture by its words.
pub fn is_tail_furniture(text: &str, chars: u32) -> bool {
    chars < TAIL && judged(text, chars)
}

fn judged(text: &str, chars: u32) -> bool {
    let lower = text.to_lowercase();
    if chars < DATELINE && opens_with_date(&lower) || is_site_name(&lower) {
        return true;
    }
    let opening = lower.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '©' && c != '(');
    let opening_len = lower.len() - opening.len();
    let idx = index();
    let tiny = chars < TINY;
    let mut prev_word = false;
    let mut ideographs = false;
    for (at, c) in lower.char_indices() {
        let word = c.is_alphanumeric();
        ideographs |= is_ideograph(c);
        // A phrase that opens with a symbol (`©`, `(foto:`) needs no word boundary before it.
        if !prev_word || !word {
            if let Some(list) = idx.by_first.get(&c) {
                let rest = &lower[at..];
                for &(p, only_tiny) in list {
                    if (!only_tiny || tiny || at == opening_len)
                        && rest.starts_with(p)
                        && ends_word(&lower, p, at + p.len())
                    {
                        return true;
                    }
                }
            }
        }
        prev_word = word && !is_ideograph(c);
    }
    ideographs && idx.ideographic.iter().any(|p| lower.contains(p))
        || COMPOUND.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> bool {
        is_furniture(s, s.chars().count() as u32)
    }

    #[test]
    fn calls_to_action_are_furniture() {
        assert!(f("Subscribe now to our print edition for the full story."));
        assert!(f("Mit unserem Newsletter auf dem Laufenden bleiben:"));
        assert!(f("¡Síguenos en Telegram!"));
        assert!(f("War der Artikel nützlich?"));
        assert!(f("© 2022 Example News. All rights reserved."));
        assert!(f("Läs också: Så blir vädret i helgen"));
        assert!(f("Tüm hakları saklıdır."));
        assert!(f("무단전재 및 재배포 금지"));
    }

    #[test]
    fn opening_words_only_count_at_the_start() {
        assert!(f("Anzeige"));
        assert!(f("Foto: Max Mustermann"));
        assert!(f("Quelle: Landesregierung"));
        assert!(!f(
            "Die Polizei hat Anzeige gegen den Fahrer erstattet, der nach dem Unfall geflohen war."
        ));
        assert!(!f(
            "Wir teilen die Sorge der Anwohner um den alten Baumbestand."
        ));
    }

    #[test]
    fn datelines_are_furniture() {
        assert!(f("24. März 2004, 19:49 | Genesis"));
        assert!(f("12.12.2022 - Empa"));
        assert!(f("2021-03-12 10:00"));
        assert!(f("March 12, 2021 at 8:45 AM"));
        assert!(f("20 de abril de 2022 a las 08:39h"));
        assert!(!f("12 people were injured when the bridge gave way."));
        assert!(!f("2021 was a difficult year for the town."));
        assert!(f("EXAMPLENEWS.COM"));
        assert!(f("Schauen Sie mal in unseren Musiknewsletter!"));
        assert!(f(
            "Schneeräumpflicht - was man darüber wissen muss© Rike/pixelio.de"
        ));
        assert!(!f("Example News"));
    }

    #[test]
    fn words_must_start_at_a_boundary_and_long_text_is_never_judged() {
        assert!(!f("The unsubscribed list was cleaned."));
        assert!(!f(
            "Wann Blogs einer Impressumspflicht unterliegen, ist umstritten."
        ));
        assert!(!f("You look for fresh prints."));
        assert!(f("关注我们的微信"));
        let long = format!(
            "{} subscribe",
            "Plain reporting about the river. ".repeat(12)
        );
        assert!(!f(&long));
    }
}
