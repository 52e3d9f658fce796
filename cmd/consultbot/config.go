package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
)

// config is every setting of consultbot, read from the environment and from
// flags named after the variables; a flag wins over the environment.
type config struct {
	MongoURI      string
	MongoDatabase string
	DataDir       string
	Flows         string
	Admins        []string
	HTTPAddr      string

	TelegramToken         string
	TelegramAPIURL        string
	TelegramWebhookURL    string
	TelegramWebhookSecret string

	SlackBotToken      string
	SlackAppToken      string
	SlackSigningSecret string
	SlackAPIURL        string
}

// setting ties an environment variable to its flag and its place in config.
type setting struct {
	env, flag, def, help string
	secret               bool
	dst                  func(*config) *string
}

func settings() []setting {
	return []setting{
		{"MONGODB_URI", "mongodb-uri", "", "MongoDB connection string; empty: embedded store in the data directory", true, func(c *config) *string { return &c.MongoURI }},
		{"MONGODB_DATABASE", "mongodb-database", "consultbot", "database name", false, func(c *config) *string { return &c.MongoDatabase }},
		{"CONSULTBOT_DATA_DIR", "data-dir", "consultbot-data", "embedded store directory", false, func(c *config) *string { return &c.DataDir }},
		{"CONSULTBOT_FLOWS", "flows", "examples", "folder of consultation files", false, func(c *config) *string { return &c.Flows }},
		{"CONSULTBOT_ADMINS", "admins", "", "identities allowed admin commands, e.g. tg:123,slack:T1:U2", false, nil},
		{"CONSULTBOT_HTTP_ADDR", "http-addr", "127.0.0.1:8080", "health, metrics and webhook listener; empty to turn off", false, func(c *config) *string { return &c.HTTPAddr }},
		{"TELEGRAM_BOT_TOKEN", "telegram-bot-token", "", "Telegram bot token from @BotFather", true, func(c *config) *string { return &c.TelegramToken }},
		{"TELEGRAM_API_URL", "telegram-api-url", "https://api.telegram.org", "Telegram Bot API base URL, without /bot<token>", false, func(c *config) *string { return &c.TelegramAPIURL }},
		{"TELEGRAM_WEBHOOK_URL", "telegram-webhook-url", "", "public webhook URL; empty: long polling", false, func(c *config) *string { return &c.TelegramWebhookURL }},
		{"TELEGRAM_WEBHOOK_SECRET", "telegram-webhook-secret", "", "secret_token Telegram sends with each webhook call", true, func(c *config) *string { return &c.TelegramWebhookSecret }},
		{"SLACK_BOT_TOKEN", "slack-bot-token", "", "Slack bot token (xoxb-...)", true, func(c *config) *string { return &c.SlackBotToken }},
		{"SLACK_APP_TOKEN", "slack-app-token", "", "Slack app-level token (xapp-...): Socket Mode", true, func(c *config) *string { return &c.SlackAppToken }},
		{"SLACK_SIGNING_SECRET", "slack-signing-secret", "", "Slack signing secret: HTTP mode", true, func(c *config) *string { return &c.SlackSigningSecret }},
		{"SLACK_API_URL", "slack-api-url", "https://slack.com/api/", "Slack Web API base URL", false, func(c *config) *string { return &c.SlackAPIURL }},
	}
}

// configFlags registers the settings on fs, with defaults taken from the
// environment, and returns a function that gives the final config once fs has
// parsed its arguments.
func configFlags(fs *flag.FlagSet, getenv func(string) string) func() (config, error) {
	var c config
	var admins string
	for _, s := range settings() {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		help := fmt.Sprintf("%s (env %s)", s.help, s.env)
		if s.dst == nil {
			fs.StringVar(&admins, s.flag, def, help)
			continue
		}
		p := s.dst(&c)
		if s.secret {
			// Do not print a secret from the environment as a flag default.
			*p = def
			fs.Func(s.flag, help, func(v string) error { *p = v; return nil })
			continue
		}
		fs.StringVar(p, s.flag, def, help)
	}
	return func() (config, error) {
		for _, a := range strings.Split(admins, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Admins = append(c.Admins, a)
			}
		}
		if c.SlackAPIURL != "" && !strings.HasSuffix(c.SlackAPIURL, "/") {
			c.SlackAPIURL += "/"
		}
		c.TelegramAPIURL = strings.TrimRight(c.TelegramAPIURL, "/")
		return c, c.validate()
	}
}

func (c config) validate() error {
	var errs []error
	if c.MongoURI == "" && c.DataDir == "" {
		errs = append(errs, errors.New("set MONGODB_URI or CONSULTBOT_DATA_DIR (--data-dir)"))
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		errs = append(errs, errors.New("MONGODB_URI must start with mongodb:// or mongodb+srv://"))
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("CONSULTBOT_HTTP_ADDR %q: want host:port, e.g. 127.0.0.1:8080", c.HTTPAddr))
		}
	}
	if c.TelegramWebhookURL != "" {
		if c.TelegramToken == "" {
			errs = append(errs, errors.New("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_BOT_TOKEN is not"))
		}
		if c.TelegramWebhookSecret == "" {
			errs = append(errs, errors.New("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET (1-256 characters A-Z a-z 0-9 _ -)"))
		}
		if c.HTTPAddr == "" {
			errs = append(errs, errors.New("TELEGRAM_WEBHOOK_URL needs CONSULTBOT_HTTP_ADDR to receive the webhook"))
		}
	}
	if (c.SlackAppToken != "" || c.SlackSigningSecret != "") && c.SlackBotToken == "" {
		errs = append(errs, errors.New("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not"))
	}
	if c.SlackBotToken != "" && c.SlackAppToken == "" && c.SlackSigningSecret == "" {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)"))
	}
	if c.SlackSigningSecret != "" && c.HTTPAddr == "" {
		errs = append(errs, errors.New("SLACK_SIGNING_SECRET needs CONSULTBOT_HTTP_ADDR to receive Slack's requests"))
	}
	return errors.Join(errs...)
}

// newFlagSet makes a flag set for a subcommand that prints its usage to w
// and returns errors instead of exiting.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: consultbot %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments ("export ID --format csv") and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
