"""The PostgreSQL fast path of the intake (高速取込): each module sits beside the reference path it shortcuts and
opens with the line naming it and the test that holds the two equal."""
