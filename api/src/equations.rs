//! Validation of the dashboard's derived-series expressions (reference §11.3): a tokenizer and
//! a recursive-descent parser for `+ - * / ^`, parentheses, unary minus, numbers and
//! `cell:stream` references. Nothing is evaluated; the dashboard evaluates with the same grammar.

/// Stream keys a reference may name (case-insensitive).
const STREAMS: &[&str] = &[
    "vwc",
    "temp",
    "ec",
    "voltage",
    "v",
    "current",
    "i",
    "power",
    "p",
    "co2",
    "bme280",
    "pressure",
    "humidity",
    "temperature",
    "soil_water_potential",
    "teros21",
    "flow",
    "yfs210c",
];

/// Longest accepted expression, in characters.
const MAX_LENGTH: usize = 500;
/// Most distinct references in one expression.
const MAX_REFS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number,
    Ref { text: String, cell: u64 },
    Op(char),
    Open,
    Close,
}

/// A valid expression: its trimmed text and its references, sorted and unique.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Validated {
    /// The expression without surrounding white space.
    pub expression: String,
    /// `cell:stream` references as written.
    pub refs: Vec<String>,
}

/// Checks an expression (and, when given, that every reference uses a selected cell); the error
/// is the message ENTS answers with.
pub(crate) fn validate(expression: &str, cell_ids: Option<&[i64]>) -> Result<Validated, String> {
    let trimmed = expression.trim();
    if trimmed.is_empty() {
        return Err("Expression is required".into());
    }
    if trimmed.chars().count() > MAX_LENGTH {
        return Err(format!("Expression exceeds maximum length ({MAX_LENGTH})"));
    }
    let tokens = tokenize(trimmed)?;
    Parser {
        tokens: &tokens,
        at: 0,
    }
    .parse()?;
    let mut refs: Vec<(String, u64)> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Ref { text, cell } => Some((text.clone(), *cell)),
            _ => None,
        })
        .collect();
    refs.sort();
    refs.dedup();
    if refs.len() > MAX_REFS {
        return Err(format!("Too many stream references (max {MAX_REFS})"));
    }
    let unselected = |cell: u64| {
        cell_ids.is_some_and(|ids| !ids.iter().any(|s| u64::try_from(*s).ok() == Some(cell)))
    };
    if let Some((text, cell)) = refs.iter().find(|(_, cell)| unselected(*cell)) {
        return Err(format!(
            "Reference {text} uses cell {cell} which is not selected"
        ));
    }
    Ok(Validated {
        expression: trimmed.to_owned(),
        refs: refs.into_iter().map(|(t, _)| t).collect(),
    })
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_numeric() {
            let start = i;
            while i < chars.len() && (chars[i].is_numeric() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            let ascii_digits = number.chars().all(|c| c.is_ascii_digit());
            if ascii_digits
                && i < chars.len()
                && chars[i] == ':'
                && i + 1 < chars.len()
                && chars[i + 1].is_ascii_alphabetic()
            {
                let key_start = i + 1;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let key: String = chars[key_start..i].iter().collect();
                if !STREAMS.contains(&key.to_ascii_lowercase().as_str()) {
                    return Err(format!("Unknown sensor stream \"{key}\""));
                }
                let cell = number
                    .parse()
                    .map_err(|_| format!("Invalid number \"{number}\""))?;
                tokens.push(Token::Ref {
                    text: format!("{number}:{key}"),
                    cell,
                });
            } else {
                let valid = number.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && number.matches('.').count() <= 1;
                if !valid {
                    return Err(format!("Invalid number \"{number}\""));
                }
                tokens.push(Token::Number);
            }
        } else if c.is_alphabetic() || c == '_' {
            return Err("Use cell:stream tokens like 1:vwc (not bare names)".into());
        } else {
            tokens.push(match c {
                '+' | '-' | '*' | '/' | '^' => Token::Op(c),
                '(' => Token::Open,
                ')' => Token::Close,
                other => return Err(format!("Unexpected character \"{other}\"")),
            });
            i += 1;
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn parse(&mut self) -> Result<(), String> {
        self.expr()?;
        if self.at != self.tokens.len() {
            return Err("Invalid expression syntax".into());
        }
        Ok(())
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn binary(
        &mut self,
        ops: &[char],
        next: fn(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        next(self)?;
        while matches!(self.peek(), Some(Token::Op(op)) if ops.contains(op)) {
            self.at += 1;
            next(self)?;
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<(), String> {
        self.binary(&['+', '-'], Self::term)
    }

    fn term(&mut self) -> Result<(), String> {
        self.binary(&['*', '/'], Self::power)
    }

    fn power(&mut self) -> Result<(), String> {
        self.binary(&['^'], Self::primary)
    }

    fn primary(&mut self) -> Result<(), String> {
        match self.peek() {
            None => Err("Unexpected end of expression".into()),
            Some(Token::Number | Token::Ref { .. }) => {
                self.at += 1;
                Ok(())
            }
            Some(Token::Op('-')) => {
                self.at += 1;
                self.primary()
            }
            Some(Token::Open) => {
                self.at += 1;
                self.expr()?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.at += 1;
                        Ok(())
                    }
                    None => Err("Missing closing parenthesis".into()),
                    Some(_) => Err("Invalid expression syntax".into()),
                }
            }
            Some(_) => Err("Invalid expression syntax".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn valid_expressions_list_their_refs() {
        let v = validate("  -1:VWC ^ 2 * (3 - 1.) + 1:v  ", None).expect("valid");
        assert_eq!(v.expression, "-1:VWC ^ 2 * (3 - 1.) + 1:v");
        assert_eq!(v.refs, ["1:VWC", "1:v"]);
        assert_eq!(
            validate("2:co2 + 2:co2", Some(&[2, 1]))
                .expect("valid")
                .refs,
            ["2:co2"]
        );
    }

    #[test]
    fn errors_name_the_first_problem() {
        let err = |e: &str| validate(e, None).expect_err(e);
        assert_eq!(err("   "), "Expression is required");
        assert_eq!(
            err("1:not_a_stream + 2"),
            "Unknown sensor stream \"not_a_stream\""
        );
        assert_eq!(err("1.2.3 + 1:vwc"), "Invalid number \"1.2.3\"");
        assert_eq!(err("2²"), "Invalid number \"2²\"");
        assert_eq!(
            err("eval(1)"),
            "Use cell:stream tokens like 1:vwc (not bare names)"
        );
        assert_eq!(err("1:vwc % 2"), "Unexpected character \"%\"");
        assert_eq!(err("(1:vwc + 2"), "Missing closing parenthesis");
        assert_eq!(err("1:vwc +"), "Unexpected end of expression");
        assert_eq!(err("1:vwc 2"), "Invalid expression syntax");
        assert_eq!(err("()"), "Invalid expression syntax");
        assert_eq!(
            validate("2:vwc", Some(&[1])).expect_err("unselected"),
            "Reference 2:vwc uses cell 2 which is not selected"
        );
    }
}
