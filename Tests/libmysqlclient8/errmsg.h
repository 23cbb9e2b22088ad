/* shim.h includes it; this project uses no CR_ name (see mysql.h beside it). */
