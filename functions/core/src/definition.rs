//! The state machine, as deployed: `landfall run` executes exactly this definition, and the
//! report draws its timeline in its order.

pub const STATE_MACHINE: &str = include_str!("../../../statemachine.asl.json");
