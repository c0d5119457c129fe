//! Where the features plug into the core at start-up, one line each: the core (`jobs`,
//! `messaging`) knows none of them, so adding one touches its own feature folder and one
//! line here.

use crate::{campaigns, chat, clients, messaging};

/// What an inbound message does beyond being stored (`messaging::inbound::record`): the
/// clients find or create its sender, then each consumer, in this order, in the message's
/// transaction.
pub fn inbound() -> messaging::inbound::Consumers {
    messaging::inbound::Consumers::new(clients::inbound::ByPhone)
        .then(campaigns::inbound::Replies)
        .then(campaigns::inbound::FlowAnswers)
        .then(clients::inbound::Communication)
        .then(chat::inbound::Notice)
}

#[cfg(test)]
mod tests {
    #[test]
    fn inbound_consumers_are_called_in_the_order_inbound_record_had_them() {
        // The reply and the flow answer first (as before the registry), the communication
        // before the chat's notice.
        assert_eq!(super::inbound().names(), ["campaign reply", "flow answer", "client communication", "chat notice"]);
    }
}
