"""SMS PDU codec, concatenation and message identity; pure, stdlib only."""
