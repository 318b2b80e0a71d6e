/* cli.h: `vocero tts`: the generation pipeline from the shell, without a server. */
#ifndef VB_TTS_CLI_H
#define VB_TTS_CLI_H

/* `vocero tts --text TEXT|--text-file F [--engine E] [--voice ID|--voice-file F]
 * [--language L] [--speed S] [--temperature T] [--seed N] [--ambience ID|FILE]
 * [--ambience-volume DB] [--format F] [--sample-rate HZ] [--quiet] -o OUT`.
 * argv[0] is "tts". Progress goes to stderr; returns the process exit status (0 ok, 1
 * failure, 2 usage). */
int tts_cli_main(int argc, char **argv);

#endif
