//! Rendering that asks the warehouse (`run_query`, `statement`, `adapter.get_columns_in_relation`,
//! `adapter.get_relation`): the render stops at a question it has no answer for, the
//! warehouse answers it here, and the render runs again with the answers so far
//! (landfall_dbt::introspect). Each question reaches the warehouse once per render, in the
//! template's order; in a Lambda the warehouse is [`crate::inflight::Suspending`], whose
//! journal keeps the answers, so a state polled again renders exactly as it first did.

use crate::error::{PipelineError, Result};
use crate::warehouse::Warehouse;
use landfall_dbt::RenderScope;
use landfall_dbt::introspect::{Answer, Answers, Ask, Column, Table};
use std::sync::Arc;

/// More questions than any template asks on purpose: a render asking this many is looping.
const MAX_QUESTIONS: usize = 10_000;

/// Run `render` (one or more renders with the scope it is given) until every question it
/// asks the warehouse is answered; its result then.
pub async fn answered<T>(
    wh: &dyn Warehouse,
    scope: &RenderScope,
    mut render: impl FnMut(&RenderScope) -> landfall_dbt::Result<T>,
) -> Result<T> {
    let mut known: Vec<(Ask, Answer)> = Vec::new();
    loop {
        let attempt = RenderScope {
            answers: Some(Arc::new(Answers::new(known.clone()))),
            ..scope.clone()
        };
        match render(&attempt) {
            Ok(v) => return Ok(v),
            Err(e) => match e.unanswered {
                Some(_) if known.len() >= MAX_QUESTIONS => {
                    return Err(PipelineError::config(format!(
                        "rendering asked the warehouse more than {MAX_QUESTIONS} questions: {}",
                        e.message
                    )));
                }
                Some(ask) => {
                    let answer = answer(wh, &ask).await?;
                    known.push((*ask, answer));
                }
                None => return Err(e.into()),
            },
        }
    }
}

/// The warehouse's answer to one question of a template.
async fn answer(wh: &dyn Warehouse, ask: &Ask) -> Result<Answer> {
    let ctx = |e: PipelineError| e.context(format!("rendering asked {}", ask.describe()));
    Ok(match ask {
        Ask::Query(sql) => {
            let t = wh.query(sql).await.map_err(ctx)?;
            Answer::Table(Table {
                columns: t.columns,
                rows: t.rows,
            })
        }
        Ask::Execute(sql) => {
            wh.execute(sql).await.map_err(ctx)?;
            Answer::Done
        }
        Ask::Exists(rel) => Answer::Exists(wh.relation_exists(rel).await.map_err(ctx)?),
        // dbt answers no columns for a relation that does not exist.
        Ask::Columns(rel) if !wh.relation_exists(rel).await.map_err(ctx)? => Answer::Columns(vec![]),
        Ask::Columns(rel) => Answer::Columns(
            wh.describe(&format!("select * from {rel}"))
                .await
                .map_err(ctx)?
                .into_iter()
                .map(|c| Column::new(c.name, c.data_type, wh.target_type()))
                .collect(),
        ),
    })
}
