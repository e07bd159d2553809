"""Ready-made models and experiments built on the library: the character language model (`charlm`),
the classic sequence tasks (`tasks`) and the recurrent layers' gradient-check table
(`gradcheck_table`). They import the library; nothing in the library imports them (the command line,
`tinygrad_rnn.cli`, is the thin layer over them)."""
