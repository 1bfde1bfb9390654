//! nginx's structure read into webserv's, before the tree's meaning is: `http { }` unwrapped
//! (webserv's top level is nginx's `http` block), `events { }` and the directives nginx has and
//! webserv ignores (`config::nginx` lists them) taken out, each with a warning where it stood.

use super::directive::{Directive, LOCATION, MAIN, SERVER};
use super::lexer::{Error, Pos};
use super::nginx::{MAIN_ONLY, Place, ignored};
use super::table::is_known;

/// Reads nginx's structure into webserv's, in place: `http { }` unwrapped, `events { }` and
/// ignored directives taken out. Warnings (with where they are) and errors are added to the
/// lists; the tree is always left readable.
pub(super) fn adapt(
    tree: &mut Vec<Directive>,
    warnings: &mut Vec<(Pos, String)>,
    errors: &mut Vec<Error>,
) {
    let mut http_seen: Option<Pos> = None;
    let mut i = 0;
    while i < tree.len() {
        match tree[i].name.text.as_str() {
            "http" => {
                let d = tree.remove(i);
                if !d.args.is_empty() {
                    errors.push(Error::new(
                        d.name.pos,
                        "invalid number of arguments in \"http\" directive",
                    ));
                    continue;
                }
                let Some(children) = d.block else {
                    errors.push(Error::new(
                        d.name.pos,
                        "directive \"http\" has no opening \"{\"",
                    ));
                    continue;
                };
                if http_seen.is_some() {
                    errors.push(Error::new(d.name.pos, "\"http\" directive is duplicate"));
                    continue;
                }
                http_seen = Some(d.name.pos);
                let mut inserted = 0;
                for child in children {
                    if MAIN_ONLY.contains(&child.name.text.as_str())
                        || ignored(&child.name.text).is_some_and(|(p, _)| p == Place::Main)
                    {
                        errors.push(Error::new(
                            child.name.pos,
                            format!(
                                "\"{}\" directive is not allowed here (it belongs outside \
                                 \"http\")",
                                child.name.text
                            ),
                        ));
                        continue;
                    }
                    tree.insert(i + inserted, child);
                    inserted += 1;
                }
                // The hoisted directives are looked at in their turn.
            }
            "events" => {
                let d = tree.remove(i);
                if d.block.is_none() {
                    errors.push(Error::new(
                        d.name.pos,
                        "directive \"events\" has no opening \"{\"",
                    ));
                } else {
                    warnings.push((
                        d.name.pos,
                        "\"events\" is accepted and has no effect: each worker runs its own \
                         epoll loop and takes up to 16384 connections"
                            .to_string(),
                    ));
                }
            }
            _ => {
                if take_ignored(tree, i, Place::Main, warnings) {
                    continue;
                }
                if tree[i].name.text == "server"
                    && let Some(block) = tree[i].block.as_mut()
                {
                    adapt_block(block, warnings);
                }
                i += 1;
            }
        }
    }
}

/// Takes the ignored directives out of a `server` or `location` block and the locations in it.
fn adapt_block(block: &mut Vec<Directive>, warnings: &mut Vec<(Pos, String)>) {
    let mut i = 0;
    while i < block.len() {
        if take_ignored(block, i, Place::Inner, warnings) {
            continue;
        }
        if block[i].name.text == "location"
            && let Some(inner) = block[i].block.as_mut()
        {
            adapt_block(inner, warnings);
        }
        i += 1;
    }
}

/// Removes `list[i]` with a warning when it is an ignored directive (and webserv does not know
/// it) allowed where it is: `here` is [`Place::Main`] for the top level (nginx's main and
/// `http` contexts), [`Place::Inner`] inside a server or location.
fn take_ignored(
    list: &mut Vec<Directive>,
    i: usize,
    here: Place,
    warnings: &mut Vec<(Pos, String)>,
) -> bool {
    let d = &list[i];
    let name = d.name.text.as_str();
    let Some((place, instead)) = ignored(name) else {
        return false;
    };
    let allowed = matches!(
        (place, here),
        (Place::Main, Place::Main) | (Place::Http, _) | (Place::Inner, Place::Inner)
    );
    let context = match here {
        Place::Inner => SERVER | LOCATION,
        _ => MAIN,
    };
    if !allowed || is_known(name, context) {
        return false;
    }
    let message = if instead == "no effect" {
        format!("\"{name}\" is accepted and has no effect in webserv")
    } else {
        format!("\"{name}\" is accepted and has no effect: {instead}")
    };
    warnings.push((d.name.pos, message));
    list.remove(i);
    true
}
