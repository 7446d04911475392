// Package controllers holds one reconciler per kind of the privacyoperator.io API.
package controllers
